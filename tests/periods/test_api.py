"""API for recurring costs and periods: finance writes, 400 naming the field, 409s."""

from datetime import date

import pytest

from costs import services
from costs.models import Cost
from costs.period_models import AccountingPeriod, RecurringCost
from costs.periods import period_create

from .factories import recurring


def _item(org, **overrides):
    body = {
        "name": "Hosteurope server",
        "amount": "10.00",
        "currency": "EUR",
        "cadence": "monthly",
        "start_date": "2025-01-01",
        "organization_unit": org.platform.pk,
        "category": "saas",
    }
    body.update(overrides)
    return body


def test_finance_creates_a_recurring_cost(org, client_for):
    response = client_for(org.fin).post("/api/v1/recurring-costs/", _item(org), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["amount"], body["currency"]) == ("Hosteurope server", "10.00", "EUR")
    assert (body["category"], body["created_by"], body["active"]) == ("saas", "fin", True)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"end_date": "2024-12-31"}, "end_date"),
        ({"amount": "10.001"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"currency": "XXZ"}, "currency"),
        ({"cadence": "weekly"}, "cadence"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"organization_unit": None}, "organization_unit"),
    ],
)
def test_bad_input_is_400_naming_the_field(org, client_for, overrides, field):
    response = client_for(org.fin).post(
        "/api/v1/recurring-costs/", _item(org, **overrides), format="json"
    )

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not RecurringCost.objects.exists()


def test_members_read_their_units_items_but_cannot_write(org, client_for):
    mine = recurring(acting_user=org.fin, organization_unit=org.platform, name="Mine")
    other = recurring(acting_user=org.fin, organization_unit=org.sales, name="Sales tool")
    member = client_for(org.member)

    listing = member.get("/api/v1/recurring-costs/")
    create = member.post("/api/v1/recurring-costs/", _item(org), format="json")
    patch = member.patch(f"/api/v1/recurring-costs/{mine.pk}/", {"amount": "1"}, format="json")

    assert [i["name"] for i in listing.json()["results"]] == ["Mine"]
    assert member.get(f"/api/v1/recurring-costs/{other.pk}/").status_code == 404
    assert (create.status_code, patch.status_code) == (403, 403)


def test_finance_updates_and_filters_by_period(org, client_for):
    item = recurring(acting_user=org.fin, organization_unit=org.platform)
    fin = client_for(org.fin)

    patched = fin.patch(
        f"/api/v1/recurring-costs/{item.pk}/",
        {"amount": "12.00", "end_date": "2025-02-28"},
        format="json",
    )
    bad = fin.patch(
        f"/api/v1/recurring-costs/{item.pk}/", {"end_date": "2024-01-01"}, format="json"
    )
    march = fin.get("/api/v1/recurring-costs/?period=2025-03").json()
    february = fin.get("/api/v1/recurring-costs/?period=2025-02").json()

    assert patched.status_code == 200
    assert (patched.json()["amount"], patched.json()["end_date"]) == ("12.00", "2025-02-28")
    assert bad.status_code == 400 and "end_date" in bad.json()
    assert (march["count"], february["count"]) == (0, 1)


def test_generate_endpoint_is_idempotent(org, client_for):
    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    fin = client_for(org.fin)

    first = fin.post("/api/v1/recurring-costs/generate/", {"until": "2025-03-31"}, format="json")
    second = fin.post("/api/v1/recurring-costs/generate/", {"until": "2025-03-31"}, format="json")

    assert first.json()["created"] == 3
    assert (second.json()["created"], second.json()["existing"]) == (0, 3)
    assert Cost.objects.filter(source="recurring").count() == 3


def test_periods_create_calculate_close(org, client_for, django_capture_on_commit_callbacks):
    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    fin = client_for(org.fin)

    created = fin.post("/api/v1/periods/", {"period": "2025-03"}, format="json")
    again = fin.post("/api/v1/periods/", {"period": "2025-03"}, format="json")
    bad = fin.post("/api/v1/periods/", {"period": "March"}, format="json")
    pk = created.json()["id"]
    calc = fin.post(f"/api/v1/periods/{pk}/calculate/", {}, format="json")
    refused = fin.post(f"/api/v1/periods/{pk}/close/", {}, format="json")

    assert created.status_code == 201
    assert (created.json()["start"], created.json()["end"]) == ("2025-03-01", "2025-03-31")
    assert again.status_code == 409
    assert bad.status_code == 400 and "period" in bad.json()
    assert calc.json()["generated"] == 1
    assert calc.json()["totals"]["pending"] == "10.00"
    assert refused.status_code == 409
    assert "still has 1 pending cost(s)" in refused.json()["detail"]

    for cost in Cost.objects.filter(status="pending"):
        services.cost_approve(cost=cost, acting_user=org.eng_owner)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        accepted = fin.post(f"/api/v1/periods/{pk}/close/", {}, format="json")
    closed = fin.get(f"/api/v1/periods/{pk}/").json()

    assert accepted.status_code == 202
    assert len(queued) == 1  # the costs.close_period task, sent after commit
    assert closed["status"] == "closed"
    assert closed["totals"]["approved"] == "10.00"
    listing = client_for(org.member).get("/api/v1/periods/?status=closed").json()
    assert [p["period"] for p in listing["results"]] == ["2025-03"]


def test_members_cannot_create_or_close_periods(org, client_for):
    period = period_create(label="2025-03")
    member = client_for(org.member)

    assert member.post("/api/v1/periods/", {"period": "2025-04"}, format="json").status_code == 403
    assert member.post(f"/api/v1/periods/{period.pk}/close/", {}, format="json").status_code == 403
    assert AccountingPeriod.objects.get().status == "open"


def test_period_list_runs_bounded_queries(org, client_for, django_assert_max_num_queries):
    for month in range(1, 13):
        period_create(label=f"2024-{month:02d}")
    client = client_for(org.fin)
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/periods/")
    assert response.json()["count"] == 12
    recurring(acting_user=org.fin, organization_unit=org.platform, start_date=date(2025, 1, 1))
    with django_assert_max_num_queries(6):
        assert client.get("/api/v1/recurring-costs/").json()["count"] == 1
