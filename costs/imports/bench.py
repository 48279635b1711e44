"""``costtrack bench import --rows N [--accounts 4 --providers 3 --formats csv,parquet]``: a
FOCUS import against a plain COPY of the same file.

Writes a month of FOCUS rows to a temporary directory (80 % hourly compute lines, 20 % daily
storage lines of three SKUs, credits and taxes, tags on every resource), spread over
``--accounts`` billing accounts of ``--providers`` providers (AWS, Azure, GCP: by default 4
and 3, so the file has 4 scopes), and the same rows as Parquet; then, in a throwaway schema,
times per format and repeat (once with one cost per charge group and day, the default, as
scenario ``import`` / ``import_parquet``; once per resource and month, as ``import_month`` /
``import_parquet_month``); ``--keep-files DIR`` keeps the files (to time a plain
``costtrack import focus`` of them under ``/usr/bin/time -v``):

* **ours**: ``import_file`` of the file — COPY into staging, validation, grouping, mapping by
  rules, resource upserts, costs, audit events and import links, committed;
* **floor**: ``COPY`` of the same rows' CSV into one unindexed table of text columns,
  committed (for Parquet too: the ratio of the two imports is the Parquet overhead).

Before each repeat the previous import's rows are truncated (untimed), so every run imports
a new file into the same state. Notifications are left out of the timing (no-op), and so is
handing the jobs an import records (its outbox rows are written and timed) to workers.
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

from costtrack.core.bench import bench_schema, result_line
from costtrack.core.jobs import jobs_held

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


# (ProviderName, billing account prefix, compute service, storage service, region)
PROVIDERS = (
    ("AWS", "9999888877", "Amazon Elastic Compute Cloud", "Amazon Simple Storage Service",
     "eu-west-1"),
    ("Microsoft", "/providers/Microsoft.Billing/billingAccounts/7777", "Virtual Machines",
     "Storage", "westeurope"),
    ("Google Cloud", "01BENCH-0000", "Compute Engine", "Cloud Storage", "europe-west1"),
)  # fmt: skip


def _account(index: int, providers: int) -> tuple[tuple, str]:
    provider = PROVIDERS[index % providers]
    return provider, f"{provider[1]}{index:02d}"


def write_file(path: str, *, rows: int, accounts: int = 1, providers: int = 1) -> int:
    """Write about ``rows`` FOCUS rows to ``path``; return how many were written.

    The rows are spread over ``accounts`` billing accounts of ``providers`` providers (the
    account of a resource is its number modulo ``accounts``; account *i* bills through
    provider *i* modulo ``providers``), so the file has ``accounts`` scopes.
    """
    providers = max(1, min(providers, len(PROVIDERS)))
    accounts = max(1, accounts)
    base = {
        "BillingAccountName": "Bench Payer",
        "BillingCurrency": "USD",
        "BillingPeriodStart": _iso(MONTH),
        "BillingPeriodEnd": _iso(MONTH + timedelta(days=31)),
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

        def emit(n: int, **fields) -> None:
            nonlocal written
            (name, _, _, _, region), account = _account(n % accounts, providers)
            row = {
                **base, "BillingAccountId": account, "ProviderName": name,
                "PublisherName": name, "InvoiceIssuerName": name, "RegionId": region, **fields,
            }  # fmt: skip
            writer.writerow([row.get(c, "") for c in COLUMNS])
            written += 1

        for n in range(compute):
            (_, _, service, _, _), _ = _account(n % accounts, providers)
            account = f"{100000000000 + n % 40}"
            tags = json.dumps({"team": TEAMS[n % len(TEAMS)], "env": ("prod", "dev")[n % 2]})
            arn = f"arn:aws:ec2:eu-west-1:{account}:instance/i-{n:017x}"
            for hour in range(DAYS * 24):
                start = MONTH + timedelta(hours=hour)
                cost = f"{0.05 + (n * 7 + hour) % 90 / 1000:.4f}"
                emit(
                    n, BilledCost=cost, EffectiveCost=cost, ListCost=cost, ContractedCost=cost,
                    ChargePeriodStart=_iso(start), ChargePeriodEnd=_iso(start + timedelta(hours=1)),
                    ChargeCategory="Usage", ChargeDescription="m6i.large Linux instance hour",
                    ServiceName=service, ServiceCategory="Compute",
                    SubAccountId=account, SubAccountName=f"acct-{account[-2:]}",
                    ResourceId=arn, ResourceName=f"i-{n:017x}", ResourceType="Instance",
                    RegionName="Europe", Tags=tags, x_UsageType="BoxUsage:m6i.large",
                )  # fmt: skip
        for n in range(storage):
            (_, _, _, service, _), _ = _account(n % accounts, providers)
            account = f"{100000000000 + n % 40}"
            tags = json.dumps({"team": TEAMS[(n + 3) % len(TEAMS)]})
            bucket = f"bench-bucket-{n}"
            for day in range(DAYS):
                start = MONTH + timedelta(days=day)
                for sku, usage in enumerate(("TimedStorage", "Requests-Tier1", "DataTransfer")):
                    cost = f"{0.01 + (n + day * 3 + sku) % 500 / 100:.2f}"
                    emit(
                        n, BilledCost=cost, EffectiveCost=cost, ListCost=cost, ContractedCost=cost,
                        ChargePeriodStart=_iso(start),
                        ChargePeriodEnd=_iso(start + timedelta(days=1)), ChargeCategory="Usage",
                        ChargeDescription=f"Storage {usage}", ServiceName=service,
                        ServiceCategory="Storage", SubAccountId=account,
                        SubAccountName=f"acct-{account[-2:]}", ResourceId=f"arn:aws:s3:::{bucket}",
                        ResourceName=bucket, ResourceType="Bucket",
                        RegionName="Europe", Tags=tags, x_UsageType=usage,
                    )  # fmt: skip
        for n in range(40):
            (_, _, service, _, _), _ = _account(n % accounts, providers)
            account = f"{100000000000 + n}"
            emit(
                n, BilledCost="-10.00", EffectiveCost="-10.00", ListCost="0",
                ContractedCost="-10.00", ChargePeriodStart=_iso(MONTH),
                ChargePeriodEnd=_iso(MONTH + timedelta(days=31)), ChargeCategory="Credit",
                ChargeDescription="Promotional credit", ServiceName=service,
                ServiceCategory="Compute", SubAccountId=account,
            )  # fmt: skip
            emit(
                n, BilledCost="12.34", EffectiveCost="12.34", ListCost="12.34",
                ContractedCost="12.34", ChargePeriodStart=_iso(MONTH),
                ChargePeriodEnd=_iso(MONTH + timedelta(days=31)), ChargeCategory="Tax",
                ChargeDescription="VAT", ServiceName="Tax", ServiceCategory="Other",
                SubAccountId=account,
            )  # fmt: skip
    return written


PARQUET_ROW_GROUP = 131_072


def write_parquet(csv_path: str, path: str) -> None:
    """The same rows as Parquet, typed as the clouds' exports are (decimal costs, UTC
    timestamps, text), in row groups of ``PARQUET_ROW_GROUP`` rows; streamed both ways."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    types = {name: pa.string() for name in COLUMNS}
    for name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        types[name] = pa.decimal128(18, 6)
    for name in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd"):
        types[name] = pa.timestamp("s", tz="UTC")
    schema = pa.schema([(name, types[name]) for name in COLUMNS])
    reader = pa_csv.open_csv(
        csv_path,
        read_options=pa_csv.ReadOptions(block_size=16 << 20),
        convert_options=pa_csv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    with pq.ParquetWriter(path, schema) as writer:
        pending = []
        count = 0
        for batch in reader:
            pending.append(batch)
            count += batch.num_rows
            if count >= PARQUET_ROW_GROUP:
                writer.write_table(pa.Table.from_batches(pending, schema=schema))
                pending, count = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema=schema))


def _models() -> list:
    # core: the job outbox, where an import's hooks record the work it causes
    wanted = ["contenttypes", "auth", "core", "orgunits", "costs", "budgets", "notifications"]
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


def run(
    *,
    rows: int | None,
    repeat: int,
    log: Callable[[str], None],
    accounts: int = 4,
    providers: int = 3,
    formats: str = "csv,parquet",
    keep_files: str | None = None,
) -> Iterator[dict]:
    rows = rows or DEFAULT_ROWS
    wanted = [f.strip() for f in formats.split(",") if f.strip()]
    if not wanted or set(wanted) - {"csv", "parquet"}:
        raise RuntimeError("--formats is a comma-separated list of csv and parquet.")
    with tempfile.TemporaryDirectory(prefix="costtrack-bench-") as tmp:
        folder = keep_files or tmp
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "focus.csv")
        log(
            f"writing about {rows} FOCUS rows ({accounts} billing accounts, {providers} "
            f"providers) to {path} …"
        )
        written = write_file(path, rows=rows, accounts=accounts, providers=providers)
        files = {"csv": path}
        if "parquet" in wanted:
            files["parquet"] = os.path.join(folder, "focus.parquet")
            write_parquet(path, files["parquet"])
        sizes = ", ".join(f"{f} {os.path.getsize(p) / 1e6:.0f} MB" for f, p in files.items())
        log(f"{written} rows ({sizes}); importing {repeat} time(s) …")
        with (
            bench_schema(SCHEMA, _models()),
            mock.patch.object(notices, "notify"),
            # the jobs an import records (a recomputation of recommendations) are written in
            # its transaction and timed; handing them to workers after the commit is not
            jobs_held(),
        ):
            user, root = _setup()
            with connection.cursor() as cursor:
                columns = ", ".join(f"c{i} text" for i in range(len(COLUMNS)))
                cursor.execute(f"CREATE TABLE bench_floor ({columns})")
            for fmt in wanted:
                for grain in ("day", "month"):
                    with override_settings(COSTTRACK_IMPORT_GRAIN=grain):
                        yield _measure(
                            files[fmt], floor_path=path, fmt=fmt, grain=grain, user=user,
                            root=root, repeat=repeat, log=log,
                        )  # fmt: skip


def _copy_floor(path: str) -> None:
    with transaction.atomic(), open(path, "rb") as source:
        raw = connection.connection
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY bench_floor FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := source.read(1 << 20):
                copy.write(chunk)


def _measure(
    path: str, *, floor_path: str, fmt: str, grain: str, user, root, repeat: int, log
) -> dict:
    ours_times, floor_times, batch = [], [], None
    for attempt in range(repeat):
        _reset()
        started = time.perf_counter()
        with open(path, "rb") as source:
            batch = services.import_file(
                source=source, file_name=f"focus-{grain}-{attempt}.{fmt}", acting_user=user,
                unit=root,
            )  # fmt: skip
        ours_times.append(time.perf_counter() - started)
        if batch.status != "succeeded":
            raise RuntimeError(f"The bench import failed: {batch.errors[:3]}")
        started = time.perf_counter()
        _copy_floor(floor_path)
        floor_times.append(time.perf_counter() - started)
        log(
            f"{fmt} {grain} run {attempt + 1}: ours {ours_times[-1]:.2f} s, "
            f"floor {floor_times[-1]:.2f} s"
        )
    scenario = "import" + ("_parquet" if fmt == "parquet" else "")
    return result_line(
        scenario + ("_month" if grain == "month" else ""),
        ours=statistics.median(ours_times),
        floor=statistics.median(floor_times),
        rows=batch.rows,
        file_mb=round(os.path.getsize(path) / 1e6, 1),
        format=fmt,
        grain=grain,
        scopes=batch.scopes.count(),
        costs_created=batch.costs_created,
        resources_created=batch.resources_created,
        repeat=repeat,
    )
