"""Files with many scopes: AWS, Azure and GCP rows of several billing accounts in one file, as
CSV, gzip and Parquet; replacing scopes, corrections to closed months, refusals."""

import io
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db.models import Sum

from costs.models import Cost, CostEvent, ImportBatch, ImportedCost, ImportScope
from costs.period_models import AccountingPeriod
from costs.summary.check import summary_differences
from costs.summary.maintain import summary_moving
from orgunits.models import Resource
from tests.imports.conftest import gz, rows_of, sample_bytes, to_csv

pytestmark = pytest.mark.django_db

SECOND_AWS = "444455556666"
SECOND_GCP = "02WXYZ-98UV76-54TS32"


def multi_cloud_rows() -> list[dict[str, str]]:
    """The AWS, Azure and GCP samples, with a second AWS payer and a second GCP account."""
    aws = rows_of(sample_bytes("aws.csv"))
    gcp = rows_of(sample_bytes("gcp.csv"))
    aws2 = [
        dict(r, BillingAccountId=SECOND_AWS, BillingAccountName="Second payer", ResourceId="")
        for r in aws[:60]
    ]
    gcp2 = [
        dict(r, BillingAccountId=SECOND_GCP, BillingAccountName="Other GCP", ResourceId="")
        for r in gcp[:50]
    ]
    return [*aws, *rows_of(sample_bytes("azure.csv")), *gcp, *aws2, *gcp2]


def columns_of(rows: list[dict[str, str]]) -> list[str]:
    return list(dict.fromkeys(c for r in rows for c in r))


def csv_of(rows: list[dict[str, str]]) -> bytes:
    return to_csv(rows, columns_of(rows))


def parquet_of(rows: list[dict[str, str]], *, row_group_size: int = 100) -> bytes:
    """Typed as the clouds write it: decimals, UTC timestamps, text; small row groups."""
    columns = columns_of(rows)
    arrays = []
    for name in columns:
        values = [r.get(name) or None for r in rows]
        if name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
            arrays.append(
                pa.array([Decimal(v) if v else None for v in values], pa.decimal128(18, 6))
            )
        elif name.endswith(("PeriodStart", "PeriodEnd")):
            arrays.append(
                pa.array(
                    [v.replace("Z", "+00:00") if v else None for v in values], pa.string()
                ).cast(pa.timestamp("s", tz="UTC"))
            )
        else:
            arrays.append(pa.array(values, pa.string()))
    out = io.BytesIO()
    pq.write_table(pa.table(arrays, names=columns), out, row_group_size=row_group_size)
    return out.getvalue()


def encode(rows, fmt: str) -> bytes:
    if fmt == "csv":
        return csv_of(rows)
    if fmt == "gzip":
        return gz(csv_of(rows))
    return parquet_of(rows)


def file_sums(rows) -> dict[tuple[str, str], dict[str, Decimal]]:
    """Per (provider, billing account), per currency: the file's own EffectiveCost sum."""
    sums: dict = defaultdict(lambda: defaultdict(Decimal))
    for r in rows:
        sums[(r["ProviderName"], r["BillingAccountId"])][r["BillingCurrency"]] += Decimal(
            r["EffectiveCost"]
        )
    return sums


def scope_costs(scope: ImportScope) -> dict[str, Decimal]:
    rows = (
        Cost.objects.filter(import_link__scope=scope, import_link__role="charge")
        .values("currency")
        .annotate(total=Sum("amount"))
    )
    return {r["currency"]: r["total"] for r in rows}


def state() -> tuple:
    return (
        Cost.objects.count(),
        CostEvent.objects.count(),
        Resource.objects.count(),
        ImportedCost.objects.count(),
        ImportScope.objects.count(),
    )


def approve(costs) -> None:
    """Approve costs as a decision would, the summary kept exact."""
    ids = list(costs.values_list("pk", flat=True))
    with summary_moving(ids=ids):
        Cost.objects.filter(pk__in=ids).update(status="approved")


def assert_summary_exact() -> None:
    assert summary_differences() == []


@pytest.mark.parametrize("fmt", ["csv", "gzip", "parquet"])
def test_each_scope_of_a_multi_cloud_file_has_the_files_own_totals(run, eur_rates, fmt):
    rows = multi_cloud_rows()
    batch = run(encode(rows, fmt), name=f"focus.{fmt}")
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    assert batch.focus_version == "1.0"
    assert batch.format == ("focus-parquet" if fmt == "parquet" else "focus")
    assert batch.rows == len(rows)
    scopes = list(batch.scopes.order_by("first_line"))
    expected = file_sums(rows)
    assert [(s.provider, s.billing_account_id) for s in scopes] == list(expected)
    for scope in scopes:
        sums = expected[(scope.provider, scope.billing_account_id)]
        assert scope.status == "imported"
        assert (scope.billing_period_start, scope.billing_period_end) == (
            date(2024, 3, 1),
            date(2024, 3, 31),
        )
        # the file's EffectiveCost, the scope's totals and its costs agree to the cent
        assert {c: Decimal(t["EffectiveCost"]) for c, t in scope.cost_totals.items()} == sums
        assert {c: Decimal(t) for c, t in scope.totals.items()} == sums
        assert scope_costs(scope) == sums
        assert scope.rows == sum(
            1
            for r in rows
            if (r["ProviderName"], r["BillingAccountId"])
            == (scope.provider, scope.billing_account_id)
        )
        assert set(scope.cost_totals[next(iter(sums))]) == {
            "BilledCost",
            "EffectiveCost",
            "ListCost",
        }
    assert sum(s.costs_created for s in scopes) == batch.costs_created
    assert batch.provider == "several"
    assert_summary_exact()


def test_billed_and_list_cost_totals_sit_beside_the_effective_cost(run, eur_rates):
    rows = multi_cloud_rows()
    batch = run(csv_of(rows))
    scope = batch.scopes.get(billing_account_id="111122223333")
    aws = [r for r in rows if r["BillingAccountId"] == "111122223333"]
    for column in ("BilledCost", "EffectiveCost", "ListCost"):
        assert Decimal(scope.cost_totals["USD"][column]) == sum(Decimal(r[column]) for r in aws)


def test_reimporting_the_same_file_changes_nothing(run, eur_rates):
    rows = multi_cloud_rows()
    first = run(csv_of(rows))
    before = state()
    # the same bytes, and the same rows in another order (other bytes, same charges)
    assert run(csv_of(rows)).pk == first.pk
    again = run(csv_of(list(reversed(rows))), name="reordered.csv")
    assert again.status == ImportBatch.Status.SUCCEEDED, again.errors
    assert again.costs_created == 0 and again.costs_reversed == 0
    assert {s.status for s in again.scopes.all()} == {"unchanged"}
    assert state()[:4] == before[:4]
    assert ImportScope.objects.filter(batch=first, superseded_at__isnull=True).count() == 5
    assert_summary_exact()


def test_a_newer_file_for_one_scope_replaces_only_that_scope(run, eur_rates):
    rows = multi_cloud_rows()
    first = run(csv_of(rows))
    others = {
        s.pk: (scope_costs(s), s.costs_created)
        for s in first.scopes.exclude(billing_account_id=SECOND_AWS)
    }
    untouched = set(
        Cost.objects.filter(import_link__scope__in=others).values_list("pk", "status", "amount")
    )
    # the second AWS payer restates: a newer file with only its rows, one amount changed
    second = [dict(r) for r in rows if r["BillingAccountId"] == SECOND_AWS]
    changed = next(r for r in second if Decimal(r["EffectiveCost"]) > 0)
    changed["EffectiveCost"] = str(Decimal(changed["EffectiveCost"]) + Decimal("10.00"))
    newer = run(csv_of(second), name="restated.csv")
    assert newer.status == ImportBatch.Status.SUCCEEDED, newer.errors
    (scope,) = newer.scopes.all()
    old = first.scopes.get(billing_account_id=SECOND_AWS)
    old.refresh_from_db()
    assert scope.supersedes_id == old.pk and old.superseded_at is not None
    assert scope.costs_reversed == old.costs_created  # its pending costs were cancelled
    assert scope_costs(scope) == file_sums(second)[("AWS", SECOND_AWS)]
    # the other four scopes and their costs did not change
    for other in first.scopes.exclude(billing_account_id=SECOND_AWS):
        assert other.superseded_at is None
        assert (scope_costs(other), other.costs_created) == others[other.pk]
    assert (
        set(
            Cost.objects.filter(import_link__scope__in=others).values_list("pk", "status", "amount")
        )
        == untouched
    )
    # a full newer export with that one change replaces that scope again and keeps the rest
    rows2 = [r for r in rows if r["BillingAccountId"] != SECOND_AWS] + second
    changed["EffectiveCost"] = str(Decimal(changed["EffectiveCost"]) + Decimal("1.00"))
    full = run(csv_of(rows2), name="full.csv")
    statuses = {s.billing_account_id: s.status for s in full.scopes.all()}
    assert statuses.pop(SECOND_AWS) == "imported"
    assert set(statuses.values()) == {"unchanged"}
    live = (
        Cost.objects.filter(
            import_link__scope__superseded_at=None,
            import_link__scope__status="imported",
            import_link__role="charge",
        )
        .values("currency")
        .annotate(total=Sum("amount"))
    )
    wanted: dict = defaultdict(Decimal)
    for sums in file_sums(rows2).values():
        for currency, total in sums.items():
            wanted[currency] += total
    assert {r["currency"]: r["total"] for r in live} == wanted
    assert_summary_exact()


def test_approved_costs_of_a_replaced_scope_are_reversed_and_the_summary_stays_exact(
    run, eur_rates
):
    rows = multi_cloud_rows()
    first = run(csv_of(rows))
    old = first.scopes.get(billing_account_id=SECOND_AWS)
    approve(Cost.objects.filter(import_link__scope=old))
    second = [dict(r) for r in rows if r["BillingAccountId"] == SECOND_AWS]
    second[0]["EffectiveCost"] = "99.99"
    newer = run(csv_of(second), name="restated.csv")
    (scope,) = newer.scopes.all()
    assert scope.costs_reversed == old.costs_created
    reversals = Cost.objects.filter(import_link__batch=newer, import_link__role="reversal")
    assert reversals.count() == old.costs_created
    assert reversals.aggregate(s=Sum("amount"))["s"] == -sum(scope_costs(old).values())
    assert_summary_exact()


def test_a_restatement_of_a_closed_month_is_booked_in_the_open_period(run, eur_rates):
    march = AccountingPeriod.objects.create(
        label="2024-03", start=date(2024, 3, 1), end=date(2024, 3, 31), status="closed"
    )
    april = AccountingPeriod.objects.create(
        label="2024-04", start=date(2024, 4, 1), end=date(2024, 4, 30)
    )
    rows = rows_of(sample_bytes("gcp.csv"))
    before = state()
    batch = run(csv_of(rows))
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    costs = Cost.objects.filter(import_link__batch=batch)
    # nothing lands in March: every cost is an adjustment on April's first day
    assert not costs.filter(incurred_on__lte=march.end).exists()
    assert set(costs.values_list("incurred_on", flat=True)) == {april.start}
    links = ImportedCost.objects.filter(batch=batch)
    assert set(links.values_list("corrects_period", flat=True)) == {march.pk}
    assert min(links.values_list("charged_on", flat=True)) >= march.start
    (scope,) = batch.scopes.all()
    assert scope.corrections == scope.costs_created > 0
    assert sum(scope_costs(scope).values()) == sum(Decimal(r["EffectiveCost"]) for r in rows)
    assert state()[0] == before[0] + batch.costs_created
    # March's figures did not change
    assert not Cost.objects.filter(incurred_on__range=(march.start, march.end)).exists()
    assert_summary_exact()


def test_correction_rows_of_an_open_period_are_linked_to_it(run, eur_rates):
    march = AccountingPeriod.objects.create(
        label="2024-03", start=date(2024, 3, 1), end=date(2024, 3, 31)
    )
    rows = rows_of(sample_bytes("aws.csv"))
    batch = run(csv_of(rows))
    corrections = [r for r in rows if r["ChargeClass"] == "Correction"]
    assert corrections
    links = ImportedCost.objects.filter(batch=batch, corrects_period__isnull=False)
    assert set(links.values_list("corrects_period", flat=True)) == {march.pk}
    assert sum(link.lines for link in links) == sum(
        1 for r in corrections if Decimal(r["EffectiveCost"]) != 0
    )


def test_the_reversal_of_a_closed_months_cost_goes_to_the_open_period(run, eur_rates):
    rows = rows_of(sample_bytes("gcp.csv"))
    first = run(csv_of(rows))
    approve(Cost.objects.filter(import_link__batch=first))
    march = AccountingPeriod.objects.create(
        label="2024-03", start=date(2024, 3, 1), end=date(2024, 3, 31), status="closed"
    )
    in_march = Cost.objects.filter(incurred_on__range=(march.start, march.end))
    before = sorted(in_march.values_list("pk", "status", "amount"))
    rows[0]["EffectiveCost"] = "12.34"
    second = run(csv_of(rows), name="restated.csv")
    assert second.status == ImportBatch.Status.SUCCEEDED, second.errors
    assert sorted(in_march.values_list("pk", "status", "amount")) == before
    reversals = ImportedCost.objects.filter(batch=second, role="reversal")
    assert reversals.count() == first.costs_created
    assert set(reversals.values_list("corrects_period", flat=True)) == {march.pk}
    assert set(reversals.values_list("cost__incurred_on", flat=True)) == {date(2024, 4, 1)}
    assert_summary_exact()


# --- refusals: each names the problem and writes nothing ------------------------------


def _refused(run, content: bytes, **kwargs) -> ImportBatch:
    before = state()
    batch = run(content, **kwargs)
    assert batch.status == ImportBatch.Status.FAILED
    assert state() == before
    return batch


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_unparseable_value_is_refused_with_line_column_and_value(run, eur_rates, fmt):
    rows = multi_cloud_rows()
    rows[200]["EffectiveCost"] = "12,50"
    batch = _refused(run, encode(rows, "csv") if fmt == "csv" else _bad_parquet(rows))
    error = batch.errors[0]
    assert error["line"] == 202
    assert error["column"] == "EffectiveCost"
    assert "'12,50'" in error["message"]


def _bad_parquet(rows) -> bytes:
    columns = columns_of(rows)
    table = pa.table(
        [pa.array([r.get(c) or None for r in rows], pa.string()) for c in columns], names=columns
    )
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=64)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_missing_mandatory_column_is_refused(run, eur_rates, fmt):
    rows = [{k: v for k, v in r.items() if k != "PricingUnit"} for r in multi_cloud_rows()]
    batch = _refused(run, encode(rows, fmt))
    assert batch.errors == [
        {
            "line": 1,
            "column": "PricingUnit",
            "message": "Mandatory column 'PricingUnit' is missing. (FOCUS 1.0)",
        }
    ]


def test_versions_are_detected_from_their_columns(run, eur_rates):
    rows = rows_of(sample_bytes("gcp.csv"))
    v11 = [dict(r, ServiceSubcategory="Other") for r in rows]
    assert run(csv_of(v11)).focus_version == "1.1"
    v12 = [dict(r, BillingAccountType="Billing Account", PricingCurrency="USD") for r in v11]
    assert run(csv_of(v12), name="v12.csv").focus_version == "1.2"
    v13 = [
        {
            **{k: v for k, v in r.items() if k not in ("ProviderName", "PublisherName")},
            "ServiceProviderName": r["ProviderName"],
            "HostProviderName": r["ProviderName"],
            "x_Extra": "kept",
        }
        for r in v12
    ]
    batch = run(csv_of(v13), name="v13.csv")
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    assert batch.focus_version == "1.3"
    (scope,) = batch.scopes.all()
    assert scope.provider == "Google Cloud"
    cost = Cost.objects.filter(import_link__batch=batch).first()
    assert cost.metadata["custom"]["x_Extra"] == "kept"
    # 1.2 without the columns 1.2 makes mandatory
    missing = [{k: v for k, v in r.items() if k != "PricingCurrency"} for r in v12]
    refused = _refused(run, csv_of(missing), name="bad12.csv")
    assert refused.errors[0]["column"] == "PricingCurrency"
    assert "(FOCUS 1.2)" in refused.errors[0]["message"]


def test_an_unknown_declared_version_is_refused(run):
    batch = _refused(run, sample_bytes("gcp.csv"), focus_version="0.5")
    assert batch.errors[0]["message"] == (
        "Unknown FOCUS version '0.5': this import reads FOCUS 1.0, 1.1, 1.2, 1.3."
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_file_over_the_size_limit_is_refused(run, eur_rates, settings, fmt):
    settings.COSTTRACK_IMPORT_MAX_MB = 0.01
    batch = _refused(run, encode(multi_cloud_rows(), fmt))
    assert "larger than the import limit" in batch.errors[0]["message"]


def test_x_columns_are_bounded_in_number_and_size(run):
    rows = rows_of(sample_bytes("gcp.csv"))
    wide = [dict(r, **{f"x_C{n:02d}": "v" * 300 for n in range(25)}) for r in rows]
    batch = run(csv_of(wide))
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    custom = Cost.objects.filter(import_link__batch=batch).first().metadata["custom"]
    assert len([k for k in custom if k.startswith("x_C")]) == 20 - 1  # x_ServiceId first
    assert {len(v) for k, v in custom.items() if k.startswith("x_C")} == {256}


def test_commitments_and_credits_are_counted_the_finops_way(run):
    """EffectiveCost is the amount: an upfront purchase (EffectiveCost 0) and the usage it
    covers (BilledCost 0) count once; a refund is a negative cost."""
    template = rows_of(sample_bytes("gcp.csv"))[0]
    purchase = dict(
        template, ChargeCategory="Purchase", BilledCost="1200.00", EffectiveCost="0",
        ListCost="1500.00", ResourceId="", ChargeDescription="1-year commitment, upfront",
    )  # fmt: skip
    covered = dict(
        template, ChargeCategory="Usage", BilledCost="0", EffectiveCost="100.00",
        ListCost="130.00", ChargeDescription="usage under the commitment",
    )  # fmt: skip
    refund = dict(
        template, ChargeCategory="Credit", BilledCost="-25.00", EffectiveCost="-25.00",
        ListCost="0", ResourceId="", ChargeDescription="refund",
    )  # fmt: skip
    batch = run(csv_of([purchase, covered, refund]))
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    costs = Cost.objects.filter(import_link__batch=batch)
    assert sorted(costs.values_list("amount", "kind")) == [
        (Decimal("-25.00"), "credit"),
        (Decimal("100.00"), "charge"),
    ]
    (scope,) = batch.scopes.all()
    assert scope.cost_totals["USD"] == {
        "BilledCost": "1175.00",
        "EffectiveCost": "75.00",
        "ListCost": "1630.00",
    }
    assert scope.totals == {"USD": "75.00"}
    assert (scope.imported_rows, scope.skipped_rows) == (2, 1)  # the purchase books nothing


def test_the_import_api_reads_in_bounded_queries_whatever_the_scopes(
    client_for, importer, run, eur_rates, django_assert_max_num_queries
):
    small = run(sample_bytes("gcp.csv"))
    large = run(csv_of(multi_cloud_rows()), name="multi.csv")
    client = client_for(importer)
    counts = []
    for batch in (small, large):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            body = client.get(f"/api/v1/imports/{batch.pk}/").json()
        counts.append(len(queries))
        assert len(body["scopes"]) == batch.scopes.count()
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/imports/").status_code == 200


def test_a_parquet_upload_runs_through_the_queue_like_a_csv(
    client_for, importer, landing, eur_rates, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    rows = multi_cloud_rows()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(importer).post(
            "/api/v1/imports/",
            {"file": SimpleUploadedFile("focus.parquet", parquet_of(rows)), "unit": "cloud"},
            format="multipart",
        )
    assert response.status_code == 202, response.json()
    body = client_for(importer).get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert body["status"] == "succeeded", body["errors"]
    assert body["format"] == "focus-parquet"
    assert len(body["scopes"]) == 5
    assert sum(Decimal(s["totals"].get("USD", "0")) for s in body["scopes"]) == sum(
        Decimal(r["EffectiveCost"]) for r in rows if r["BillingCurrency"] == "USD"
    )


def test_the_same_rows_as_parquet_after_csv_change_nothing(run, eur_rates):
    rows = multi_cloud_rows()
    first = run(csv_of(rows))
    before = state()
    again = run(parquet_of(rows), name="focus.parquet")
    assert again.status == ImportBatch.Status.SUCCEEDED, again.errors
    assert {s.status for s in again.scopes.all()} == {"unchanged"}
    assert again.costs_created == again.costs_reversed == 0
    assert state()[:4] == before[:4]
    assert ImportScope.objects.filter(batch=first, superseded_at=None).count() == 5


def test_imports_from_before_scopes_get_one_and_are_replaced_per_scope(run, eur_rates):
    """The migration gives every earlier import the scope it covered; a multi-scope file
    then replaces it like any other."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("costs.migrations.0010_import_scopes")
    rows = rows_of(sample_bytes("gcp.csv"))
    legacy = run(csv_of(rows))
    # as it was before the migration: no scope rows, links without a scope
    ImportedCost.objects.filter(batch=legacy).update(scope=None)
    ImportScope.objects.filter(batch=legacy).delete()
    migration.scopes_of_earlier_imports(apps, None)
    (scope,) = legacy.scopes.all()
    assert (scope.provider, scope.billing_account_id, scope.billing_period_start) == (
        "Google Cloud",
        "01ABCD-23EF45-67GH89",
        date(2024, 3, 1),
    )
    assert ImportedCost.objects.filter(batch=legacy, scope=scope).count() == legacy.costs_created
    newer = run(csv_of(multi_cloud_rows()), name="multi.csv")
    scope.refresh_from_db()
    replacing = newer.scopes.get(billing_account_id="01ABCD-23EF45-67GH89")
    assert replacing.supersedes_id == scope.pk and scope.superseded_at is not None
    assert replacing.costs_reversed == legacy.costs_created
    assert_summary_exact()


def test_the_api_refuses_an_unknown_declared_version_before_queueing(client_for, importer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client_for(importer).post(
        "/api/v1/imports/",
        {"file": SimpleUploadedFile("gcp.csv", sample_bytes("gcp.csv")), "focus_version": "2.0"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "Unknown FOCUS version '2.0'" in str(response.json())
    assert ImportBatch.objects.count() == 0


def test_a_damaged_parquet_file_is_refused(run):
    content = parquet_of(rows_of(sample_bytes("gcp.csv")))
    batch = _refused(run, content[: len(content) // 2], name="cut.parquet")
    assert batch.errors[0]["message"].startswith("The Parquet file cannot be read")
