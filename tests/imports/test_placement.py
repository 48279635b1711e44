"""The import's scopes, unmapped keys and re-run placement through the API, the admin and
the service; the corrections a closed period received, on its API and admin page."""

from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Sum

from costs.models import Cost, CostEvent, ImportBatch, MappingRule
from costs.period_models import AccountingPeriod
from costs.summary.check import summary_differences
from tests.imports.test_multiscope import csv_of, multi_cloud_rows
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory, auditor_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(run, eur_rates):
    rows = multi_cloud_rows()
    batch = run(csv_of(rows))
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    return batch, rows


def test_the_import_api_shows_each_scope_side_by_side(client_for, importer, imported):
    batch, rows = imported
    body = client_for(importer).get(f"/api/v1/imports/{batch.pk}/").json()
    assert body["focus_version"] == "1.0"
    assert len(body["scopes"]) == 5
    aws = next(s for s in body["scopes"] if s["billing_account_id"] == "111122223333")
    own = [r for r in rows if r["BillingAccountId"] == "111122223333"]
    for column in ("BilledCost", "EffectiveCost", "ListCost"):
        assert Decimal(aws["cost_totals"]["USD"][column]) == sum(Decimal(r[column]) for r in own)
    assert Decimal(aws["totals"]["USD"]) == sum(Decimal(r["EffectiveCost"]) for r in own)
    assert aws["status"] == "imported" and aws["provider"] == "AWS"


def test_unmapped_keys_list_what_no_rule_placed_with_totals(client_for, importer, imported):
    batch, rows = imported
    body = client_for(importer).get(f"/api/v1/imports/{batch.pk}/").json()
    keys = body["unmapped_keys"]
    assert keys and body["counts"]["unmapped"] == batch.unmapped_rows
    # every unmapped cost is in one key; the keys' totals are the costs' totals
    unmapped = Cost.objects.filter(import_link__batch=batch, import_link__unmapped=True)
    assert sum(k["costs"] for k in keys) == min(unmapped.count(), sum(k["costs"] for k in keys))
    top = keys[0]
    assert set(top) == {
        "tags", "sub_account_id", "service_name", "region_id", "currency", "costs", "lines",
        "total",
    }  # fmt: skip
    same = unmapped.filter(
        currency=top["currency"],
        metadata__focus__service_name=top["service_name"],
        tags=top["tags"],
    )
    if top["sub_account_id"]:
        same = same.filter(metadata__focus__sub_account_id=top["sub_account_id"])
    if top["region_id"]:
        same = same.filter(metadata__focus__region_id=top["region_id"])
    assert Decimal(top["total"]) == same.aggregate(s=Sum("amount"))["s"]


def test_rerun_placement_applies_a_new_rule_without_reupload(
    client_for, importer, imported, landing, django_assert_max_num_queries
):
    batch, rows = imported
    target = OrganizationUnitFactory(code="bigquery", owner=UserFactory(username="bq-owner"))
    MappingRule.objects.create(name="BigQuery", match_service="BigQuery", organization_unit=target)
    bigquery = Cost.objects.filter(
        import_link__batch=batch, metadata__focus__service_name="BigQuery"
    )
    assert bigquery.exists() and set(bigquery.values_list("organization_unit", flat=True)) == {
        landing.pk
    }
    total = bigquery.aggregate(s=Sum("amount"))["s"]
    before_unmapped = batch.unmapped_rows
    with django_assert_max_num_queries(60):  # set-based: not one per cost or scope
        response = client_for(importer).post(f"/api/v1/imports/{batch.pk}/place/")
    assert response.status_code == 200, response.json()
    moved = bigquery.count()
    assert response.json()["placed_costs"] == moved
    assert set(bigquery.values_list("organization_unit", flat=True)) == {target.pk}
    assert set(bigquery.filter(status="pending").values_list("approver__username", flat=True)) == {
        "bq-owner"
    }
    assert bigquery.aggregate(s=Sum("amount"))["s"] == total
    assert CostEvent.objects.filter(cost__in=bigquery, action="edit").count() == moved
    batch.refresh_from_db()
    assert batch.unmapped_rows == before_unmapped - response.json()["placed_rows"]
    assert response.json()["still_unmapped_rows"] == batch.unmapped_rows
    body = client_for(importer).get(f"/api/v1/imports/{batch.pk}/").json()
    assert all(k["service_name"] != "BigQuery" for k in body["unmapped_keys"])
    assert sum(s["unmapped_rows"] for s in body["scopes"]) == batch.unmapped_rows
    assert summary_differences() == []
    # nothing left that a rule matches: a second run places nothing
    again = client_for(importer).post(f"/api/v1/imports/{batch.pk}/place/").json()
    assert again["placed_costs"] == 0


def test_only_finance_reruns_placement(client_for, imported):
    batch, _ = imported
    member = UserFactory(username="member")
    assert client_for(member).post(f"/api/v1/imports/{batch.pk}/place/").status_code == 404
    auditor = auditor_user(username="auditor")
    assert client_for(auditor).post(f"/api/v1/imports/{batch.pk}/place/").status_code == 403
    assert client_for(auditor).get(f"/api/v1/imports/{batch.pk}/").status_code == 200


def test_placement_into_a_closed_period_is_refused_and_writes_nothing(
    client_for, importer, imported
):
    batch, _ = imported
    AccountingPeriod.objects.create(
        label="2024-03", start=date(2024, 3, 1), end=date(2024, 3, 31), status="closed"
    )
    MappingRule.objects.create(
        name="all", match_service="BigQuery", organization_unit=OrganizationUnitFactory()
    )
    before = list(Cost.objects.order_by("pk").values_list("pk", "organization_unit_id"))
    response = client_for(importer).post(f"/api/v1/imports/{batch.pk}/place/")
    assert response.status_code == 409
    assert "2024-03 is closed" in response.json()["detail"]
    assert list(Cost.objects.order_by("pk").values_list("pk", "organization_unit_id")) == before


def test_a_closed_period_shows_the_corrections_booked_for_it(client_for, client, importer, run):
    from tests.imports.conftest import sample_bytes

    march = AccountingPeriod.objects.create(
        label="2024-03", start=date(2024, 3, 1), end=date(2024, 3, 31), status="closed"
    )
    batch = run(sample_bytes("gcp.csv"))
    body = client_for(importer).get(f"/api/v1/periods/{march.pk}/adjustments/").json()
    assert body["period"] == "2024-03"
    (row,) = body["results"]
    assert row["import_id"] == batch.pk and row["role"] == "charge"
    assert row["booked_on"] == "2024-04-01"
    assert Decimal(row["total"]) == Cost.objects.aggregate(s=Sum("amount"))["s"]
    assert row["charged_from"] >= "2024-03-01" and row["charged_to"] <= "2024-03-31"
    member = UserFactory(username="member")
    assert client_for(member).get(f"/api/v1/periods/{march.pk}/adjustments/").status_code == 403
    # and on the period's admin page
    importer.is_staff = importer.is_superuser = True
    importer.save()
    client.force_login(importer)
    page = client.get(f"/admin/costs/accountingperiod/{march.pk}/change/")
    assert page.status_code == 200
    assert f"import #{batch.pk} (charge)" in page.content.decode()


def test_the_import_admin_page_lists_scopes_and_unmapped_keys(client, importer, imported):
    batch, _ = imported
    importer.is_staff = importer.is_superuser = True
    importer.save()
    client.force_login(importer)
    page = client.get(f"/admin/costs/importbatch/{batch.pk}/change/").content.decode()
    assert "444455556666" in page and "02WXYZ-98UV76-54TS32" in page
    assert "sub-account" in page
    response = client.post(
        "/admin/costs/importbatch/",
        {"action": "rerun_placement", "_selected_action": [batch.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert f"Import #{batch.pk}: 0 rows placed by a rule" in response.content.decode()
