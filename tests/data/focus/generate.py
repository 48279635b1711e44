"""Write the sample FOCUS exports of this folder (deterministic; run to regenerate).

    python tests/data/focus/generate.py

One month (March 2024) per provider: usage per resource and day, a reserved-capacity
purchase, credits (negative), monthly taxes, some free-tier rows of amount zero, tags in
the FOCUS ``Tags`` JSON column and ``x_`` custom columns. Amounts have at most two
decimals so that totals computed from the CSV are exact.
"""

import csv
import json
import random
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).parent
START = datetime(2024, 3, 1)
DAYS = 28
COLUMNS = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingQuantity",
    "PricingUnit", "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId",
    "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "SubAccountId",
    "SubAccountName", "Tags",
]  # fmt: skip


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def money(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(rng.randint(int(low * 100), int(high * 100))) / 100


class Export:
    def __init__(self, *, provider, publisher, account, account_name, currency, extra):
        self.base = {
            "BillingAccountId": account,
            "BillingAccountName": account_name,
            "BillingCurrency": currency,
            "BillingPeriodStart": iso(START),
            "BillingPeriodEnd": iso(datetime(2024, 4, 1)),
            "InvoiceIssuerName": provider,
            "ProviderName": provider,
            "PublisherName": publisher,
        }
        self.extra = extra
        self.rows: list[dict[str, str]] = []

    def add(self, *, day: int, days: int = 1, effective: Decimal, category="Usage", **fields):
        start = START + timedelta(days=day)
        row = dict(self.base)
        row.update(
            ChargePeriodStart=iso(start),
            ChargePeriodEnd=iso(start + timedelta(days=days)),
            ChargeCategory=category,
            ChargeFrequency="Usage-Based" if category == "Usage" else "One-Time",
            EffectiveCost=str(effective),
            BilledCost=str(fields.pop("billed", effective)),
            ListCost=str(fields.pop("list_cost", abs(effective) * Decimal("1.25"))),
            ContractedCost=str(effective),
        )
        row.update(fields)
        self.rows.append(row)

    def write(self, name: str) -> None:
        columns = COLUMNS + self.extra
        with open(HERE / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            for row in self.rows:
                writer.writerow({c: row.get(c, "") for c in columns})


def aws() -> None:
    rng = random.Random(2024_03_01)
    export = Export(
        provider="AWS", publisher="AWS", account="111122223333",
        account_name="Acme Payer", currency="USD", extra=["x_UsageType", "x_Operation"],
    )  # fmt: skip
    accounts = {"210987654321": "acme-prod", "345678901234": "acme-staging"}
    resources = [
        ("210987654321", "Amazon Elastic Compute Cloud", "Compute", "i-0a1b2c3d4e5f60001",
         "web-1", "Instance", "eu-west-1", "BoxUsage:m6i.large", "RunInstances",
         {"team": "web", "env": "prod"}, (3, 5)),
        ("210987654321", "Amazon Elastic Compute Cloud", "Compute", "i-0a1b2c3d4e5f60002",
         "web-2", "Instance", "eu-west-1", "BoxUsage:m6i.large", "RunInstances",
         {"team": "web", "env": "prod"}, (3, 5)),
        ("210987654321", "Amazon Relational Database Service", "Databases", "db:orders-prod",
         "orders-prod", "DBInstance", "eu-west-1", "InstanceUsage:db.r6g.large",
         "CreateDBInstance", {"team": "orders", "env": "prod"}, (9, 12)),
        ("210987654321", "Amazon Simple Storage Service", "Storage", "acme-assets",
         "acme-assets", "Bucket", "eu-west-1", "TimedStorage-ByteHrs", "StandardStorage",
         {"team": "web"}, (0.4, 1.2)),
        ("210987654321", "AWS Lambda", "Compute", "function:thumbnailer", "thumbnailer",
         "Function", "eu-west-1", "Lambda-GB-Second", "Invoke", {"team": "media"}, (0, 0.8)),
        ("345678901234", "Amazon Elastic Compute Cloud", "Compute", "i-0fedcba987650003",
         "staging-1", "Instance", "eu-central-1", "BoxUsage:t3.medium", "RunInstances",
         {"team": "web", "env": "staging"}, (0.9, 1.1)),
        ("345678901234", "Amazon CloudFront", "Networking", "distribution/E2ABC123",
         "cdn-staging", "Distribution", "global", "DataTransfer-Out-Bytes", "GET",
         {"env": "staging"}, (0.1, 0.6)),
    ]  # fmt: skip
    for account, service, category, rid, name, rtype, region, usage, op, tags, (
        lo,
        hi,
    ) in resources:
        arn = f"arn:aws:{service.split()[-1].lower()}:{region}:{account}:{rid}"
        for day in range(DAYS):
            amount = money(rng, lo, hi)
            if service == "AWS Lambda" and day % 7 == 0:
                amount = Decimal("0.00")  # free tier
            export.add(
                day=day, effective=amount, ServiceName=service, ServiceCategory=category,
                SubAccountId=account, SubAccountName=accounts[account], ResourceId=arn,
                ResourceName=name, ResourceType=rtype, RegionId=region, RegionName=region,
                ChargeDescription=f"{usage} in {region}", PricingQuantity="24",
                PricingUnit="Hours", Tags=json.dumps(tags, sort_keys=True),
                x_UsageType=usage, x_Operation=op,
            )  # fmt: skip
    export.add(
        day=0, days=31, effective=Decimal("450.00"), category="Purchase",
        ServiceName="Amazon Relational Database Service", ServiceCategory="Databases",
        SubAccountId="210987654321", SubAccountName="acme-prod",
        ChargeDescription="Reserved DB instance, 1 year, partial upfront",
        RegionId="eu-west-1", ChargeClass="",
    )  # fmt: skip
    for day in (4, 11, 18):
        export.add(
            day=day, effective=Decimal("-25.00"), category="Credit",
            ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute",
            SubAccountId="210987654321", SubAccountName="acme-prod",
            ChargeDescription="AWS Activate promotional credit",
        )  # fmt: skip
    export.add(
        day=2, effective=Decimal("-3.10"), category="Adjustment", ChargeClass="Correction",
        ServiceName="Amazon CloudFront", ServiceCategory="Networking",
        SubAccountId="345678901234", SubAccountName="acme-staging",
        ChargeDescription="Refund for duplicate request charges",
    )  # fmt: skip
    for account, tax in (("210987654321", "212.37"), ("345678901234", "18.04")):
        export.add(
            day=0, days=31, effective=Decimal(tax), category="Tax",
            ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute",
            SubAccountId=account, SubAccountName=accounts[account],
            ChargeDescription="VAT 20% for March 2024",
        )  # fmt: skip
    export.write("aws.csv")


def azure() -> None:
    rng = random.Random(2024_03_02)
    export = Export(
        provider="Microsoft", publisher="Microsoft",
        account="/providers/Microsoft.Billing/billingAccounts/87654321",
        account_name="Acme EMEA", currency="EUR", extra=["x_SkuMeterCategory"],
    )  # fmt: skip
    sub = "7c0e5a66-1d2b-4f3e-9a8b-0c1d2e3f4a5b"
    resources = [
        ("Virtual Machines", "Compute", "Microsoft.Compute/virtualMachines/vm-api-01",
         "rg-api", {"CostCenter": "CC-1001", "app": "api"}, (4, 6)),
        ("Virtual Machines", "Compute", "Microsoft.Compute/virtualMachines/vm-api-02",
         "rg-api", {"CostCenter": "CC-1001", "app": "api"}, (4, 6)),
        ("Azure SQL Database", "Databases", "Microsoft.Sql/servers/sql-crm/databases/crm",
         "rg-crm", {"CostCenter": "CC-2002", "app": "crm"}, (7, 9)),
        ("Storage", "Storage", "Microsoft.Storage/storageAccounts/stacmelogs", "rg-ops",
         {"CostCenter": "CC-3003"}, (0.2, 0.9)),
        ("Azure OpenAI", "AI and Machine Learning",
         "Microsoft.CognitiveServices/accounts/oai-assistant", "rg-ai",
         {"CostCenter": "CC-1001", "app": "assistant"}, (1, 15)),
        ("Bandwidth", "Networking", "Microsoft.Network/publicIPAddresses/pip-api", "rg-api",
         {"app": "api"}, (0, 0.4)),
    ]  # fmt: skip
    for service, category, path, group, tags, (lo, hi) in resources:
        rid = f"/subscriptions/{sub}/resourceGroups/{group}/providers/{path}"
        for day in range(DAYS):
            amount = money(rng, lo, hi)
            if service == "Bandwidth" and day % 5 == 0:
                amount = Decimal("0")
            export.add(
                day=day, effective=amount, ServiceName=service, ServiceCategory=category,
                SubAccountId=sub, SubAccountName="Acme Production", ResourceId=rid,
                ResourceName=path.rsplit("/", 1)[-1], ResourceType=path.split("/")[1],
                RegionId="westeurope", RegionName="West Europe",
                ChargeDescription=f"{service} usage", Tags=json.dumps(tags, sort_keys=True),
                x_SkuMeterCategory=service,
            )  # fmt: skip
    for day in (9, 19):
        export.add(
            day=day, effective=Decimal("-40.00"), category="Credit",
            ServiceName="Azure OpenAI", ServiceCategory="AI and Machine Learning",
            SubAccountId=sub, SubAccountName="Acme Production",
            ChargeDescription="Azure sponsorship credit",
        )  # fmt: skip
    export.add(
        day=0, days=31, effective=Decimal("96.58"), category="Tax",
        ServiceName="Virtual Machines", ServiceCategory="Compute", SubAccountId=sub,
        SubAccountName="Acme Production", ChargeDescription="Tax",
    )  # fmt: skip
    export.write("azure.csv")


def gcp() -> None:
    rng = random.Random(2024_03_03)
    export = Export(
        provider="Google Cloud", publisher="Google Cloud", account="01ABCD-23EF45-67GH89",
        account_name="Acme GCP", currency="USD", extra=["x_ServiceId"],
    )  # fmt: skip
    resources = [
        ("acme-analytics", "BigQuery", "Analytics", "24E6-581D-38E5",
         "//bigquery.googleapis.com/projects/acme-analytics/datasets/events", "events",
         "Dataset", {"team": "data"}, (2, 8)),
        ("acme-analytics", "Compute Engine", "Compute", "6F81-5844-456A",
         "//compute.googleapis.com/projects/acme-analytics/zones/europe-west1-b/instances/etl-1",
         "etl-1", "Instance", {"team": "data", "env": "prod"}, (3, 4)),
        ("acme-web", "Cloud Run", "Compute", "152E-C115-5142",
         "//run.googleapis.com/projects/acme-web/locations/europe-west1/services/frontend",
         "frontend", "Service", {"team": "web", "env": "prod"}, (0.5, 2.5)),
        ("acme-web", "Cloud Storage", "Storage", "95FF-2EF5-5EA1",
         "//storage.googleapis.com/projects/_/buckets/acme-web-static", "acme-web-static",
         "Bucket", {"team": "web"}, (0.05, 0.3)),
        ("acme-web", "Vertex AI", "AI and Machine Learning", "C7E2-9256-1C43",
         "//aiplatform.googleapis.com/projects/acme-web/locations/europe-west1/endpoints/42",
         "recommender", "Endpoint", {"team": "ml"}, (1, 6)),
    ]  # fmt: skip
    for project, service, category, sid, rid, name, rtype, tags, (lo, hi) in resources:
        for day in range(DAYS):
            export.add(
                day=day, effective=money(rng, lo, hi), ServiceName=service,
                ServiceCategory=category, SubAccountId=project, SubAccountName=project,
                ResourceId=rid, ResourceName=name, ResourceType=rtype,
                RegionId="europe-west1", RegionName="Belgium",
                ChargeDescription=f"{service} usage", Tags=json.dumps(tags, sort_keys=True),
                x_ServiceId=sid,
            )  # fmt: skip
    for day in range(0, DAYS, 7):
        export.add(
            day=day, days=7, effective=Decimal("-12.50"), category="Credit",
            ServiceName="Compute Engine", ServiceCategory="Compute",
            SubAccountId="acme-analytics", SubAccountName="acme-analytics",
            ChargeDescription="Committed use discount", x_ServiceId="6F81-5844-456A",
        )  # fmt: skip
    export.add(
        day=0, days=31, effective=Decimal("57.19"), category="Tax", ServiceName="BigQuery",
        ServiceCategory="Analytics", SubAccountId="acme-analytics",
        SubAccountName="acme-analytics", ChargeDescription="Sales tax",
    )  # fmt: skip
    export.write("gcp.csv")


def kubernetes() -> None:
    rng = random.Random(2024_03_04)
    export = Export(
        provider="Kubernetes", publisher="OpenCost", account="cluster-prod-eu",
        account_name="prod-eu", currency="USD",
        extra=["x_Cluster", "x_Namespace", "x_CpuCoreHours"],
    )  # fmt: skip
    workloads = [
        ("payments", "deployment/payments-api", {"team": "payments", "tier": "backend"}, (2, 4)),
        ("payments", "statefulset/payments-db", {"team": "payments", "tier": "data"}, (3, 5)),
        ("search", "deployment/search", {"team": "search"}, (1, 3)),
        ("monitoring", "daemonset/node-exporter", {"team": "platform"}, (0.2, 0.5)),
        ("kube-system", "__idle__", {}, (1, 2)),
    ]  # fmt: skip
    for namespace, workload, tags, (lo, hi) in workloads:
        for day in range(DAYS):
            amount = money(rng, lo, hi)
            for part, share, category in (
                ("cpu", Decimal("0.6"), "Compute"),
                ("ram", Decimal("0.3"), "Compute"),
                ("pv", Decimal("0.1"), "Storage"),
            ):
                if workload == "__idle__" and part == "pv":
                    continue
                value = (amount * share).quantize(Decimal("0.01"))
                export.add(
                    day=day, effective=value, ServiceName=f"Kubernetes {part.upper()}",
                    ServiceCategory=category, SubAccountId=namespace,
                    SubAccountName=namespace, ResourceId=f"{namespace}/{workload}",
                    ResourceName=workload.split("/")[-1], ResourceType="Workload",
                    RegionId="eu-west-1", ChargeDescription=f"{part} of {workload}",
                    Tags=json.dumps(tags, sort_keys=True), x_Cluster="prod-eu",
                    x_Namespace=namespace, x_CpuCoreHours=str(rng.randint(1, 96)),
                )  # fmt: skip
    export.add(
        day=0, days=31, effective=Decimal("-35.00"), category="Credit",
        ServiceName="Kubernetes CPU", ServiceCategory="Compute", SubAccountId="payments",
        SubAccountName="payments", ChargeDescription="Committed-use discount share of the nodes",
        x_Cluster="prod-eu", x_Namespace="payments",
    )  # fmt: skip
    export.add(
        day=0, days=31, effective=Decimal("14.72"), category="Tax",
        ServiceName="Kubernetes Control Plane", ServiceCategory="Compute",
        SubAccountId="kube-system", SubAccountName="kube-system",
        ChargeDescription="VAT on the managed control plane fee", x_Cluster="prod-eu",
    )  # fmt: skip
    export.write("kubernetes.csv")


if __name__ == "__main__":
    aws()
    azure()
    gcp()
    kubernetes()
