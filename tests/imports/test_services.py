"""Billing import services: totals, bad files, idempotency, replacement, rules, approval."""

import gzip
import io
import random
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from django.db.models import Sum

from costs.imports import services
from costs.models import (
    Cost,
    CostCategory,
    CostEvent,
    ImportApprovalPolicy,
    ImportBatch,
    ImportedCost,
    MappingRule,
)
from costtrack.core.exceptions import Conflict, PermissionDenied, ValidationError
from orgunits.models import Resource
from tests.imports.conftest import SAMPLES, csv_totals, gz, rows_of, sample_bytes, to_csv
from tests.orgunits.factories import (
    EntityFactory,
    OrganizationUnitFactory,
    ResourceFactory,
    UserFactory,
    auditor_user,
    finance_user,
)

pytestmark = pytest.mark.django_db


def db_totals(batch: ImportBatch) -> dict[tuple, Decimal]:
    totals: dict[tuple, Decimal] = defaultdict(Decimal)
    for cost in Cost.objects.filter(import_link__batch=batch, import_link__role="charge"):
        focus = cost.metadata["focus"]
        key = (focus.get("sub_account_id", ""), focus["service_name"], str(cost.incurred_on))
        totals[key] += cost.amount
    return dict(totals)


def counts() -> tuple[int, int, int, int]:
    return (
        Cost.objects.count(),
        CostEvent.objects.count(),
        Resource.objects.count(),
        ImportedCost.objects.count(),
    )


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_export_imports_with_exact_totals_per_account_service_and_day(run, eur_rates, name):
    content = sample_bytes(name)
    batch = run(content, name=name)

    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    expected = csv_totals(content)
    assert db_totals(batch) == expected
    rows = rows_of(content)
    assert batch.rows == len(rows)
    zero = sum(1 for r in rows if Decimal(r["EffectiveCost"]) == 0)
    assert (batch.imported_rows, batch.skipped_rows) == (len(rows) - zero, zero)
    currency = rows[0]["BillingCurrency"]
    assert Decimal(batch.totals[currency]) == sum(expected.values())
    costs = Cost.objects.filter(import_link__batch=batch)
    assert costs.count() == batch.costs_created
    assert set(costs.values_list("source", flat=True)) == {"import"}
    assert set(costs.values_list("status", flat=True)) == {"pending"}
    # every sample bills credits, taxes and tagged resources
    assert costs.filter(kind="credit").exists()
    assert costs.filter(metadata__focus__charge_category="Tax").exists()
    assert costs.exclude(tags={}).exists()
    # one audit event per cost, naming the file
    events = CostEvent.objects.filter(cost__in=costs)
    assert events.count() == batch.costs_created
    assert all("Imported from " + name in e.comment for e in events)


def test_sub_cent_amounts_keep_each_account_service_and_day_total_exact(run):
    """Exports carry many decimals: the costs of a bucket still sum to its rounded total."""
    rng = random.Random(7)
    rows = rows_of(sample_bytes("aws.csv"))
    for row in rows:
        if row["ChargeCategory"] == "Usage" and Decimal(row["EffectiveCost"]) != 0:
            row["EffectiveCost"] = f"{Decimal(rng.randint(1, 9_999_999)) / 10**6}"
    # three resources of one account, service and day at 0.004 each: 0.012 rounds to 0.01,
    # where rounding each on its own would give 0.00
    tiny = [r for r in rows if r["ServiceName"] == "AWS Lambda"][:1]
    for n in range(3):
        rows.append({**tiny[0], "ResourceId": f"function:tiny-{n}", "EffectiveCost": "0.004"})
    content = to_csv(rows)
    batch = run(content)
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    expected = {
        key: total.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        for key, total in csv_totals(content).items()
    }
    got = db_totals(batch)
    assert got == {k: v for k, v in expected.items() if v != 0 or k in got}
    day = tiny[0]["ChargePeriodStart"][:10]
    tiny_costs = Cost.objects.filter(
        import_link__batch=batch, resource__provider_resource_id__contains="function:tiny-"
    )
    assert tiny_costs.count() == 3
    assert sorted(c.amount for c in tiny_costs) == [
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("0.01"),
    ]
    assert (
        got[(tiny[0]["SubAccountId"], "AWS Lambda", day)]
        == expected[(tiny[0]["SubAccountId"], "AWS Lambda", day)]
    )


def test_credits_become_credit_costs_and_taxes_keep_their_monthly_period(run):
    batch = run(sample_bytes("aws.csv"))
    costs = Cost.objects.filter(import_link__batch=batch)
    credits = costs.filter(kind="credit")
    assert credits.count() == 4  # three promotional credits and one refund adjustment
    assert credits.aggregate(s=Sum("amount"))["s"] == Decimal("-78.10")
    tax = costs.get(
        metadata__focus__charge_category="Tax", metadata__focus__sub_account_id="345678901234"
    )
    assert (tax.amount, tax.period_start, tax.period_end) == (
        Decimal("18.04"),
        date(2024, 3, 1),
        date(2024, 3, 31),
    )


def test_tags_x_columns_and_resources_come_from_the_file(run, landing):
    batch = run(sample_bytes("kubernetes.csv"))
    cost = Cost.objects.filter(
        import_link__batch=batch, resource__provider_resource_id="payments/deployment/payments-api"
    ).first()
    assert cost.tags == {"team": "payments", "tier": "backend"}
    assert cost.metadata["custom"]["x_Namespace"] == "payments"
    assert cost.resource.provider == "k8s"
    assert cost.resource.organization_unit == landing
    assert batch.resources_created == Resource.objects.filter(provider="k8s").count() == 5


def test_foreign_currency_is_converted_with_the_latest_rate_on_or_before_the_day(run, eur_rates):
    batch = run(sample_bytes("azure.csv"))
    costs = Cost.objects.filter(import_link__batch=batch)
    early = costs.filter(incurred_on=date(2024, 3, 14), kind="charge").first()
    late = costs.filter(incurred_on=date(2024, 3, 15), kind="charge").first()
    assert early.currency == "EUR"
    assert early.exchange_rate == Decimal("1.08")
    assert early.amount_reporting == (early.amount * Decimal("1.08")).quantize(Decimal("0.01"))
    assert late.exchange_rate == Decimal("1.09")


def test_missing_exchange_rate_is_a_row_error_and_nothing_is_imported(run):
    before = counts()
    batch = run(sample_bytes("azure.csv"))
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.errors[0] == {
        "line": 2,
        "column": "BillingCurrency",
        "message": "no exchange rate for EUR on or before 2024-03-01",
    }
    assert counts() == before


def test_gzip_file_imports_like_the_plain_one(run):
    content = sample_bytes("gcp.csv")
    batch = run(gz(content), name="gcp.csv.gz")
    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert db_totals(batch) == csv_totals(content)


def test_amounts_are_rounded_half_even_once_per_charge_group(run):
    rows = rows_of(sample_bytes("gcp.csv"))[:1]
    rows = [dict(rows[0], EffectiveCost="0.3333333333") for _ in range(3)]
    rows.append(dict(rows[0], EffectiveCost="0.125", ResourceId="other", ResourceName="o"))
    batch = run(to_csv(rows))
    amounts = sorted(Cost.objects.filter(import_link__batch=batch).values_list("amount", flat=True))
    assert amounts == [Decimal("0.12"), Decimal("1.00")]


def test_the_amount_column_is_a_setting(run, settings):
    settings.COSTTRACK_IMPORT_AMOUNT_COLUMN = "BilledCost"
    rows = rows_of(sample_bytes("gcp.csv"))[:2]
    rows[0]["BilledCost"] = "9.99"
    batch = run(to_csv(rows))
    assert batch.amount_column == "BilledCost"
    assert db_totals(batch)[(rows[0]["SubAccountId"], rows[0]["ServiceName"], "2024-03-01")] == (
        Decimal("9.99")
    )


# --- bad files -------------------------------------------------------------------------


def _bad(run, content: bytes, name: str = "bad.csv") -> ImportBatch:
    before = counts()
    batch = run(content, name=name)
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.error_count >= 1
    assert counts() == before, "nothing may be half imported"
    assert not Cost.objects.filter(import_link__batch=batch).exists()
    return batch


def test_missing_mandatory_column_is_a_file_error(run):
    rows = rows_of(sample_bytes("gcp.csv"))
    columns = [c for c in rows[0] if c != "BillingCurrency"]
    batch = _bad(run, to_csv(rows, columns))
    assert batch.errors == [
        {
            "line": 1,
            "column": "BillingCurrency",
            "message": "Mandatory column 'BillingCurrency' is missing.",
        }
    ]


def test_wrong_type_in_a_row_is_reported_with_line_and_column(run):
    rows = rows_of(sample_bytes("gcp.csv"))
    rows[4]["EffectiveCost"] = "12,50"
    rows[9]["ChargePeriodStart"] = "2024-02-30T00:00:00Z"
    batch = _bad(run, to_csv(rows))
    assert batch.errors == [
        {
            "line": 6,
            "column": "EffectiveCost",
            "message": "'12,50' is not a decimal number (below 10^12)",
        },
        {
            "line": 11,
            "column": "ChargePeriodStart",
            "message": "'2024-02-30T00:00:00Z' is not an ISO 8601 date-time",
        },
    ]


def test_unknown_currency_is_a_row_error(run):
    rows = rows_of(sample_bytes("gcp.csv"))
    rows[2]["BillingCurrency"] = "XYZ"
    batch = _bad(run, to_csv(rows))
    assert batch.errors == [
        {"line": 4, "column": "BillingCurrency", "message": "unknown currency 'XYZ'"}
    ]


def test_charge_period_end_before_start_is_a_row_error(run):
    rows = rows_of(sample_bytes("gcp.csv"))
    rows[0]["ChargePeriodEnd"] = "2024-02-29T00:00:00Z"
    batch = _bad(run, to_csv(rows))
    assert batch.errors == [
        {
            "line": 2,
            "column": "ChargePeriodEnd",
            "message": "'2024-02-29T00:00:00Z' is before ChargePeriodStart '2024-03-01T00:00:00Z'",
        }
    ]


def test_billing_period_end_before_start_is_a_row_error(run):
    rows = rows_of(sample_bytes("gcp.csv"))
    for row in rows:
        row["BillingPeriodEnd"] = "2024-02-01T00:00:00Z"
    batch = _bad(run, to_csv(rows))
    assert batch.errors[0]["line"] == 2
    assert batch.errors[0]["column"] == "BillingPeriodEnd"
    assert "before BillingPeriodStart" in batch.errors[0]["message"]
    assert batch.error_count == len(rows)


def test_a_binary_file_is_refused(run):
    batch = _bad(run, bytes(range(256)) * 40, name="picture.png")
    assert batch.errors[0]["message"] == "This is not a CSV file (it contains binary data)."


def test_a_csv_that_is_not_focus_is_refused(run):
    batch = _bad(run, b"name,amount\nlunch,12.50\n", name="expenses.csv")
    assert batch.errors[0]["message"].startswith("This is not a FOCUS CSV file")


def test_a_truncated_gzip_is_refused(run):
    content = gz(sample_bytes("kubernetes.csv"))
    batch = _bad(run, content[: len(content) // 2], name="k8s.csv.gz")
    assert "truncated" in batch.errors[0]["message"]


def test_a_row_with_too_many_columns_is_refused_with_its_line(run):
    content = sample_bytes("gcp.csv").splitlines(keepends=True)
    content[7] = content[7].rstrip(b"\n") + b",surplus\n"
    batch = _bad(run, b"".join(content))
    assert batch.errors[0]["line"] == 8
    assert "number of columns" in batch.errors[0]["message"]


def test_a_file_mixing_billing_periods_imports_each_period_as_its_own_scope(run):
    """Once refused as a whole; a billing period is a scope of its own now."""
    rows = rows_of(sample_bytes("gcp.csv"))
    rows[-1]["BillingPeriodStart"] = "2024-02-01T00:00:00Z"
    batch = run(to_csv(rows))
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    starts = sorted(str(s.billing_period_start) for s in batch.scopes.all())
    assert starts == ["2024-02-01", "2024-03-01"]


# --- idempotency and replacement ------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(run):
    content = sample_bytes("aws.csv")
    first = run(content)
    before = counts()
    again = run(content, name="aws-again.csv")
    assert again.pk == first.pk
    assert counts() == before
    assert ImportBatch.objects.filter(duplicate_of=first).count() == 1


def test_the_same_csv_gzipped_or_regzipped_is_the_same_file(run):
    content = sample_bytes("aws.csv")
    first = run(content)
    assert first.status == ImportBatch.Status.SUCCEEDED, first.errors
    before = counts()
    for again in (gz(content), gzip.compress(content, mtime=1_700_000_000, compresslevel=1)):
        assert run(again, name="aws.csv.gz").pk == first.pk
    assert counts() == before
    assert not ImportBatch.objects.filter(supersedes=first).exists()


def test_the_same_gzipped_upload_is_found_before_it_is_queued(importer, landing):
    content = sample_bytes("aws.csv")
    first = services.import_file(
        source=io.BytesIO(content), file_name="aws.csv", acting_user=importer, unit=landing
    )
    assert first.status == ImportBatch.Status.SUCCEEDED, first.errors
    batch, created = services.import_create(
        file_name="aws.csv.gz", content=gz(content), acting_user=importer, unit=landing
    )
    assert (batch.pk, created) == (first.pk, False)


def test_reimporting_a_replaced_file_replaces_the_correction_in_turn(run):
    original = sample_bytes("gcp.csv")
    rows = rows_of(original)
    rows[0]["EffectiveCost"] = str(Decimal(rows[0]["EffectiveCost"]) + Decimal("100.00"))
    corrected = to_csv(rows)
    first = run(original)
    second = run(corrected, name="gcp-corrected.csv")
    assert second.supersedes_id == first.pk
    # the correction was wrong after all: the original file goes in again
    third = run(original, name="gcp-original-again.csv")
    assert third.status == ImportBatch.Status.SUCCEEDED, third.errors
    assert third.pk not in (first.pk, second.pk)
    assert third.supersedes_id == second.pk
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.superseded_at is not None and second.superseded_at is not None
    live = Cost.objects.filter(status__in=["pending", "approved"], source="import")
    assert live.aggregate(s=Sum("amount"))["s"] == sum(csv_totals(original).values())
    # and now that file is the active one: once more changes nothing
    before = counts()
    assert run(original, name="gcp-once-more.csv").pk == third.pk
    assert counts() == before


def test_an_unexpected_error_fails_the_batch_instead_of_leaving_it_running(run, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services.loader, "insert_costs", explode)
    before = counts()
    batch = run(sample_bytes("aws.csv"))
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.errors == [
        {
            "line": 0,
            "column": "",
            "message": "The import failed unexpectedly (RuntimeError); nothing was imported. "
            "The worker's log has the details.",
        }
    ]
    assert counts() == before


def test_a_soft_time_limit_fails_the_batch_with_a_clear_message(run, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    def too_slow(**kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(services.loader, "map_groups", too_slow)
    batch = run(sample_bytes("aws.csv"))
    assert batch.status == ImportBatch.Status.FAILED
    assert "longer than the worker's time limit" in batch.errors[0]["message"]


def test_a_corrected_file_reverses_and_replaces_the_earlier_import(run, importer):
    original = sample_bytes("gcp.csv")
    first = run(original)
    first_costs = list(Cost.objects.filter(import_link__batch=first).order_by("pk"))
    approver = finance_user(username="approver")
    to_approve = first_costs[0]
    services.import_batch_decide(
        batch=first,
        approver=to_approve.approver,
        decision="approve",
        comment="ok",
        acting_user=approver,
    )
    approved = list(Cost.objects.filter(import_link__batch=first, status="approved", kind="charge"))
    assert approved

    rows = rows_of(original)
    rows[0]["EffectiveCost"] = str(Decimal(rows[0]["EffectiveCost"]) + Decimal("100.00"))
    corrected = to_csv(rows)
    second = run(corrected, name="gcp-corrected.csv")

    assert second.status == ImportBatch.Status.SUCCEEDED, second.errors
    assert second.supersedes_id == first.pk
    assert second.costs_reversed == len(first_costs)
    # what counts (pending + approved) now equals the corrected file, to the cent
    live = Cost.objects.filter(status__in=["pending", "approved"], source="import")
    assert live.aggregate(s=Sum("amount"))["s"] == sum(csv_totals(corrected).values())
    # the audit trail of a replaced approved cost names the replacing import
    event = CostEvent.objects.filter(cost=approved[0]).order_by("-pk").first()
    assert f"Reversed by import #{second.pk}" in event.comment
    reversal = Cost.objects.get(import_link__reverses=approved[0])
    assert reversal.amount == -approved[0].amount
    assert reversal.kind == "credit"
    assert reversal.status == "approved"
    assert ImportedCost.objects.filter(batch=second, role="reversal").count() == len(first_costs)


# --- mapping rules, auto-approval, batch decisions -------------------------------------


def test_mapping_rules_place_rows_by_tag_account_service_and_provider(run, landing):
    payments = OrganizationUnitFactory(code="payments")
    search_entity = EntityFactory(name="Search")
    storage = CostCategory.objects.get(slug="storage")
    MappingRule.objects.create(
        name="payments team",
        priority=10,
        match_tag_key="team",
        match_tag_value="payments",
        organization_unit=payments,
    )
    MappingRule.objects.create(
        name="search namespace",
        priority=20,
        match_provider="kubernetes",
        match_sub_account="search",
        entity=search_entity,
    )
    MappingRule.objects.create(
        name="pv", priority=30, match_service="Kubernetes PV", category=storage
    )
    batch = run(sample_bytes("kubernetes.csv"))
    costs = Cost.objects.filter(import_link__batch=batch)
    assert set(costs.filter(tags__team="payments").values_list("organization_unit", flat=True)) == {
        payments.pk
    }
    search = costs.filter(metadata__focus__sub_account_id="search")
    assert set(search.values_list("entity", flat=True)) == {search_entity.pk}
    assert set(search.values_list("organization_unit", flat=True)) == {
        search_entity.organization_unit_id
    }
    unmapped = costs.filter(metadata__focus__sub_account_id="monitoring")
    assert set(unmapped.values_list("organization_unit", flat=True)) == {landing.pk}
    pv = costs.filter(metadata__focus__service_name="Kubernetes PV", tags__team="platform")
    assert set(pv.values_list("category__slug", flat=True)) == {"storage"}
    assert batch.unmapped_rows > 0
    assert batch.warnings[0]["code"] == "unmapped"


def test_known_resources_keep_their_unit_and_owner_approves(run):
    owner = UserFactory(username="res-owner")
    unit = OrganizationUnitFactory(code="search")
    ResourceFactory(
        provider="k8s",
        provider_resource_id="search/deployment/search",
        owner=owner,
        organization_unit=unit,
    )
    batch = run(sample_bytes("kubernetes.csv"))
    costs = Cost.objects.filter(
        import_link__batch=batch, resource__provider_resource_id="search/deployment/search"
    )
    assert set(costs.values_list("organization_unit", "approver")) == {(unit.pk, owner.pk)}


def test_unmapped_rows_without_default_unit_fail_the_import(run, importer, settings):
    settings.COSTTRACK_IMPORT_DEFAULT_UNIT = ""
    before = counts()
    batch = services.import_file(
        source=io.BytesIO(sample_bytes("gcp.csv")), file_name="gcp.csv", acting_user=importer
    )
    assert batch.status == ImportBatch.Status.FAILED
    assert "no default unit" in batch.errors[0]["message"]
    assert counts() == before


def test_auto_approval_policy_approves_small_imported_costs_with_an_event(run, landing):
    ImportApprovalPolicy.objects.create(
        organization_unit=landing, max_amount=Decimal("1.00"), currency="USD"
    )
    batch = run(sample_bytes("gcp.csv"))
    costs = Cost.objects.filter(import_link__batch=batch)
    small = costs.filter(amount__lte=Decimal("1.00"))
    assert small.exists()
    assert set(small.values_list("status", flat=True)) == {"approved"}
    assert set(costs.filter(amount__gt=Decimal("1.00")).values_list("status", flat=True)) == {
        "pending"
    }
    assert batch.costs_auto_approved == small.count()
    event = CostEvent.objects.get(cost=small.first(), action="approve")
    assert "Approved automatically" in event.comment


def test_batch_decision_approves_all_of_an_approvers_pending_costs(run, landing, importer):
    batch = run(sample_bytes("gcp.csv"))
    costs = Cost.objects.filter(import_link__batch=batch)
    assert set(costs.values_list("approver", flat=True)) == {landing.owner_id}

    decided = services.import_batch_decide(
        batch=batch,
        approver=landing.owner,
        decision="approve",
        comment="March GCP bill",
        acting_user=landing.owner,
    )

    assert decided == costs.count()
    assert set(costs.values_list("status", flat=True)) == {"approved"}
    assert CostEvent.objects.filter(cost__in=costs, action="approve").count() == decided
    with pytest.raises(Conflict):
        services.import_batch_decide(
            batch=batch, approver=landing.owner, decision="approve", acting_user=landing.owner
        )


def test_batch_decision_rules(run, landing, importer):
    batch = run(sample_bytes("gcp.csv"))
    stranger = UserFactory(username="stranger")
    with pytest.raises(PermissionDenied):
        services.import_batch_decide(
            batch=batch, approver=landing.owner, decision="approve", acting_user=stranger
        )
    with pytest.raises(PermissionDenied):
        services.import_batch_decide(
            batch=batch, approver=landing.owner, decision="approve", acting_user=importer
        )
    with pytest.raises(ValidationError):
        services.import_batch_decide(
            batch=batch, approver=landing.owner, decision="reject", acting_user=landing.owner
        )
    rejected = services.import_batch_decide(
        batch=batch,
        approver=landing.owner,
        decision="reject",
        comment="wrong account",
        acting_user=landing.owner,
    )
    assert Cost.objects.filter(import_link__batch=batch, status="rejected").count() == rejected


def test_auditors_neither_import_nor_decide_even_as_finance_or_the_approver(run, landing):
    from django.contrib.auth.models import Group

    batch = run(sample_bytes("gcp.csv"))
    before = counts()
    auditor = auditor_user(username="auditor-finance")
    auditor.groups.add(Group.objects.get(name="finance"))
    with pytest.raises(PermissionDenied):
        services.import_file(
            source=io.BytesIO(sample_bytes("aws.csv")), file_name="aws.csv", acting_user=auditor
        )
    with pytest.raises(PermissionDenied):
        services.import_batch_decide(
            batch=batch, approver=landing.owner, decision="approve", acting_user=auditor
        )
    landing.owner.groups.add(Group.objects.get(name="auditor"))
    owner = type(landing.owner).objects.get(pk=landing.owner_id)  # no cached roles
    with pytest.raises(PermissionDenied) as refused:
        services.import_batch_decide(
            batch=batch, approver=owner, decision="approve", acting_user=owner
        )
    assert refused.value.code == "read_only"
    assert counts() == before
    assert set(Cost.objects.filter(import_link__batch=batch).values_list("status", flat=True)) == {
        "pending"
    }


def test_imported_costs_skip_an_auditor_who_owns_their_unit(run, landing, importer):
    from django.contrib.auth.models import Group

    landing.owner.groups.add(Group.objects.get(name="auditor"))
    batch = run(sample_bytes("gcp.csv"))
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    # nobody above the landing unit owns it: finance decides
    assert set(
        Cost.objects.filter(import_link__batch=batch).values_list("approver", flat=True)
    ) == {None}


def test_only_finance_imports(landing):
    member = UserFactory(username="member")
    with pytest.raises(PermissionDenied):
        services.import_file(
            source=io.BytesIO(sample_bytes("gcp.csv")),
            file_name="x.csv",
            acting_user=member,
            unit=landing,
        )


def test_a_corrected_file_cancels_the_pending_costs_it_replaces(run):
    first = run(sample_bytes("gcp.csv"))
    old = list(Cost.objects.filter(import_link__batch=first).values_list("pk", flat=True))
    rows = rows_of(sample_bytes("gcp.csv"))[:-1]
    second = run(to_csv(rows), name="gcp-v2.csv")
    assert second.supersedes_id == first.pk
    assert set(Cost.objects.filter(pk__in=old).values_list("status", flat=True)) == {"cancelled"}
    event = CostEvent.objects.filter(cost_id=old[0], action="cancel").get()
    assert f"Reversed by import #{second.pk}" in event.comment
    live = Cost.objects.filter(status__in=["pending", "approved"])
    assert live.aggregate(s=Sum("amount"))["s"] == sum(csv_totals(to_csv(rows)).values())


def test_an_import_into_a_closing_accounting_period_is_refused(run):
    """A closed period takes corrections in the next open one (test_multiscope); a period
    whose close is running refuses the import, as any cost change."""
    from costs.period_models import AccountingPeriod

    AccountingPeriod.objects.create(
        label="2024-03", start=date(2024, 3, 1), end=date(2024, 3, 31), status="closing"
    )
    before = counts()
    batch = run(sample_bytes("gcp.csv"))
    assert batch.status == ImportBatch.Status.FAILED
    assert "The period 2024-03 is closing" in batch.errors[0]["message"]
    assert counts() == before


def test_month_grain_makes_one_cost_per_resource_and_month(run, settings):
    settings.COSTTRACK_IMPORT_GRAIN = "month"
    content = sample_bytes("kubernetes.csv")
    batch = run(content)
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    expected: dict[tuple, Decimal] = defaultdict(Decimal)
    for (account, service, _day), total in csv_totals(content).items():
        expected[(account, service)] += total
    got: dict[tuple, Decimal] = defaultdict(Decimal)
    costs = Cost.objects.filter(import_link__batch=batch)
    for cost in costs:
        got[(cost.metadata["focus"]["sub_account_id"], cost.metadata["focus"]["service_name"])] += (
            cost.amount
        )
    assert dict(got) == dict(expected)
    # 5 workloads x 3 parts, the idle workload without storage, a credit and a tax:
    # 16 costs for 394 rows
    assert costs.count() == 16
    usage = costs.filter(metadata__focus__charge_category="Usage")
    assert {(c.incurred_on, c.period_end) for c in usage} == {(date(2024, 3, 1), date(2024, 3, 28))}
    monthly = costs.exclude(metadata__focus__charge_category="Usage")
    assert {(c.incurred_on, c.period_end) for c in monthly} == {
        (date(2024, 3, 1), date(2024, 3, 31))
    }
