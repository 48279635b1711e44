"""``costtrack bench import --rows N``: a FOCUS import against a plain COPY of the same file.

Writes a month of AWS-like FOCUS rows to a temporary directory (80 % hourly compute lines,
20 % daily storage lines of three SKUs, credits and taxes, tags on every resource), then, in
a throwaway schema, times per repeat (once with one cost per charge group and day, the
default, as scenario ``import``; once per resource and month, as ``import_month``):

* **ours**: ``import_file`` of the file — COPY into staging, validation, grouping, mapping by
  rules, resource upserts, costs, audit events and import links, committed;
* **floor**: ``COPY`` of the same file into one unindexed table of text columns, committed.

Before each repeat the previous import's rows are truncated (untimed), so every run imports
a new file into the same state. Notifications are left out of the timing (no-op).
"""

import csv
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from unittest import mock

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import override_settings

from costtrack.bench import bench_schema, result_line

from ..models import CostCategory, MappingRule
from . import notices, services
from .focus import MANDATORY_COLUMNS, OPTIONAL_COLUMNS

DEFAULT_ROWS = 1_000_000
SCHEMA = "bench_import"
MONTH = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 30
TEAMS = ("web", "orders", "search", "payments", "data", "ml", "platform", "media")
COLUMNS = [*MANDATORY_COLUMNS, *OPTIONAL_COLUMNS, "PricingQuantity", "PricingUnit", "x_UsageType"]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_file(path: str, *, rows: int) -> int:
    """Write about ``rows`` FOCUS rows to ``path``; return how many were written."""
    base = {
        "BillingAccountId": "999988887777",
        "BillingAccountName": "Bench Payer",
        "BillingCurrency": "USD",
        "BillingPeriodStart": _iso(MONTH),
        "BillingPeriodEnd": _iso(MONTH + timedelta(days=31)),
        "ProviderName": "AWS",
        "PublisherName": "AWS",
        "InvoiceIssuerName": "AWS",
        "ChargeClass": "",
        "PricingQuantity": "1",
        "PricingUnit": "Hours",
    }
    compute = max(1, rows * 8 // 10 // (DAYS * 24))
    storage = max(1, (rows - compute * DAYS * 24) // (DAYS * 3))
    written = 0
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)

        def emit(**fields) -> None:
            nonlocal written
            row = {**base, **fields}
            writer.writerow([row.get(c, "") for c in COLUMNS])
            written += 1

        for n in range(compute):
            account = f"{100000000000 + n % 40}"
            tags = json.dumps({"team": TEAMS[n % len(TEAMS)], "env": ("prod", "dev")[n % 2]})
            arn = f"arn:aws:ec2:eu-west-1:{account}:instance/i-{n:017x}"
            for hour in range(DAYS * 24):
                start = MONTH + timedelta(hours=hour)
                cost = f"{0.05 + (n * 7 + hour) % 90 / 1000:.4f}"
                emit(
                    BilledCost=cost, EffectiveCost=cost, ListCost=cost, ContractedCost=cost,
                    ChargePeriodStart=_iso(start), ChargePeriodEnd=_iso(start + timedelta(hours=1)),
                    ChargeCategory="Usage", ChargeDescription="m6i.large Linux instance hour",
                    ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute",
                    SubAccountId=account, SubAccountName=f"acct-{account[-2:]}",
                    ResourceId=arn, ResourceName=f"i-{n:017x}", ResourceType="Instance",
                    RegionId="eu-west-1", RegionName="Europe (Ireland)", Tags=tags,
                    x_UsageType="BoxUsage:m6i.large",
                )  # fmt: skip
        for n in range(storage):
            account = f"{100000000000 + n % 40}"
            tags = json.dumps({"team": TEAMS[(n + 3) % len(TEAMS)]})
            bucket = f"bench-bucket-{n}"
            for day in range(DAYS):
                start = MONTH + timedelta(days=day)
                for sku, usage in enumerate(("TimedStorage", "Requests-Tier1", "DataTransfer")):
                    cost = f"{0.01 + (n + day * 3 + sku) % 500 / 100:.2f}"
                    emit(
                        BilledCost=cost, EffectiveCost=cost, ListCost=cost, ContractedCost=cost,
                        ChargePeriodStart=_iso(start),
                        ChargePeriodEnd=_iso(start + timedelta(days=1)), ChargeCategory="Usage",
                        ChargeDescription=f"S3 {usage}",
                        ServiceName="Amazon Simple Storage Service",
                        ServiceCategory="Storage", SubAccountId=account,
                        SubAccountName=f"acct-{account[-2:]}", ResourceId=f"arn:aws:s3:::{bucket}",
                        ResourceName=bucket, ResourceType="Bucket", RegionId="eu-west-1",
                        RegionName="Europe (Ireland)", Tags=tags, x_UsageType=usage,
                    )  # fmt: skip
        for n in range(40):
            account = f"{100000000000 + n}"
            emit(
                BilledCost="-10.00", EffectiveCost="-10.00", ListCost="0", ContractedCost="-10.00",
                ChargePeriodStart=_iso(MONTH), ChargePeriodEnd=_iso(MONTH + timedelta(days=31)),
                ChargeCategory="Credit", ChargeDescription="Promotional credit",
                ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute",
                SubAccountId=account,
            )  # fmt: skip
            emit(
                BilledCost="12.34", EffectiveCost="12.34", ListCost="12.34", ContractedCost="12.34",
                ChargePeriodStart=_iso(MONTH), ChargePeriodEnd=_iso(MONTH + timedelta(days=31)),
                ChargeCategory="Tax", ChargeDescription="VAT", ServiceName="Tax",
                ServiceCategory="Other", SubAccountId=account,
            )  # fmt: skip
    return written


def _models() -> list:
    wanted = ["contenttypes", "auth", "orgunits", "costs", "budgets", "notifications"]
    models = []
    for label in wanted:
        models += [m for m in apps.get_app_config(label).get_models() if m._meta.managed]
    return models


def _setup() -> object:
    from orgunits import services as unit_services

    user = get_user_model().objects.create(username="bench-importer", is_superuser=True)
    owner = get_user_model().objects.create(username="bench-owner")
    root = unit_services.unit_create(name="Bench", code="bench", owner=owner)
    for team in TEAMS:
        unit = unit_services.unit_create(name=team, code=f"bench-{team}", parent=root)
        MappingRule.objects.create(
            name=team, priority=10, match_tag_key="team", match_tag_value=team,
            organization_unit=unit,
        )  # fmt: skip
    for slug in ("compute", "storage", "other"):
        CostCategory.objects.create(name=slug.title(), slug=slug)
    return user, root


def _reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE costs_importedcost, costs_costevent, costs_cost, costs_importfile, "
            "costs_importbatch, orgunits_resource, bench_floor CASCADE"
        )


def run(*, rows: int | None, repeat: int, log: Callable[[str], None]) -> Iterator[dict]:
    rows = rows or DEFAULT_ROWS
    with tempfile.TemporaryDirectory(prefix="costtrack-bench-") as tmp:
        path = os.path.join(tmp, "focus.csv")
        log(f"writing about {rows} FOCUS rows to {path} …")
        written = write_file(path, rows=rows)
        size = os.path.getsize(path)
        log(f"{written} rows, {size / 1e6:.0f} MB; importing {repeat} time(s) …")
        with bench_schema(SCHEMA, _models()), mock.patch.object(notices, "notify"):
            user, root = _setup()
            with connection.cursor() as cursor:
                columns = ", ".join(f"c{i} text" for i in range(len(COLUMNS)))
                cursor.execute(f"CREATE TABLE bench_floor ({columns})")
            for grain in ("day", "month"):
                with override_settings(COSTTRACK_IMPORT_GRAIN=grain):
                    yield _measure(path, grain=grain, user=user, root=root, repeat=repeat, log=log)


def _copy_floor(path: str) -> None:
    with transaction.atomic(), open(path, "rb") as source:
        raw = connection.connection
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY bench_floor FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := source.read(1 << 20):
                copy.write(chunk)


def _measure(path: str, *, grain: str, user, root, repeat: int, log) -> dict:
    ours_times, floor_times, batch = [], [], None
    for attempt in range(repeat):
        _reset()
        started = time.perf_counter()
        with open(path, "rb") as source:
            batch = services.import_file(
                source=source, file_name=f"focus-{grain}-{attempt}.csv", acting_user=user,
                unit=root,
            )  # fmt: skip
        ours_times.append(time.perf_counter() - started)
        if batch.status != "succeeded":
            raise RuntimeError(f"The bench import failed: {batch.errors[:3]}")
        started = time.perf_counter()
        _copy_floor(path)
        floor_times.append(time.perf_counter() - started)
        log(
            f"{grain} run {attempt + 1}: ours {ours_times[-1]:.2f} s, floor {floor_times[-1]:.2f} s"
        )
    return result_line(
        "import" if grain == "day" else "import_month",
        ours=statistics.median(ours_times),
        floor=statistics.median(floor_times),
        rows=batch.rows,
        file_mb=round(os.path.getsize(path) / 1e6, 1),
        grain=grain,
        costs_created=batch.costs_created,
        resources_created=batch.resources_created,
        repeat=repeat,
    )
