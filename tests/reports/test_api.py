"""Report endpoints: totals to the cent, bad parameters named, other units' data refused."""

from datetime import date
from decimal import Decimal

import pytest

from costs.models import CostStatus, ExchangeRate
from tests.orgunits.factories import (
    OrganizationUnitFactory,
    ResourceFactory,
    UserFactory,
    finance_user,
)

from .factories import CostCategoryFactory, CostFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    company = OrganizationUnitFactory(name="Company", code="co")
    eng = OrganizationUnitFactory(name="Engineering", code="eng", parent=company)
    web = OrganizationUnitFactory(name="Web", code="web", parent=eng)
    sales = OrganizationUnitFactory(name="=Sales", code="sales", parent=company)
    compute = CostCategoryFactory(slug="rep-compute")
    other = CostCategoryFactory(slug="rep-other")
    vm = ResourceFactory(organization_unit=web, name="web-vm", provider="gcp")
    CostFactory(
        organization_unit=eng,
        amount=Decimal("100.00"),
        category=compute,
        incurred_on=date(2025, 1, 10),
        tags={"team": "platform"},
    )
    CostFactory(
        organization_unit=web,
        resource=vm,
        amount=Decimal("20.50"),
        category=compute,
        incurred_on=date(2025, 2, 3),
        tags={"team": "web"},
    )
    CostFactory(
        organization_unit=web,
        amount=Decimal("90.00"),
        currency="EUR",
        category=other,
        amount_reporting=Decimal("99.00"),
        exchange_rate=Decimal("1.1"),
        incurred_on=date(2025, 2, 20),
    )
    CostFactory(organization_unit=sales, amount=Decimal("7.25"), incurred_on=date(2025, 3, 1))
    CostFactory(
        organization_unit=web,
        amount=Decimal("1000.00"),
        status=CostStatus.PENDING,
        incurred_on=date(2025, 2, 21),
    )
    CostFactory(
        organization_unit=web,
        amount=Decimal("5000.00"),
        status=CostStatus.REJECTED,
        incurred_on=date(2025, 2, 21),
    )
    member = UserFactory()
    eng.memberships.create(user=member)
    return {"company": company, "eng": eng, "web": web, "sales": sales, "member": member}


def test_costs_grouped_by_unit_and_month(client_for, org, django_assert_max_num_queries):
    client = client_for(finance_user())
    with django_assert_max_num_queries(8):
        r = client.get("/api/v1/reports/costs/", {"group_by": "organization_unit,month"})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == "226.75"
    assert body["count"] == 4
    got = [(x["organization_unit_name"], x["month"], x["total"]) for x in body["results"]]
    assert sorted(got) == sorted([
        ("Engineering", "2025-01", "100.00"),
        ("Web", "2025-02", "119.50"),
        ("=Sales", "2025-03", "7.25"),
    ])  # fmt: skip
    eur = [x for x in body["by_currency"] if x["currency"] == "EUR"]
    assert eur == [
        {
            "organization_unit": org["web"].pk,
            "organization_unit_name": "Web",
            "month": "2025-02",
            "currency": "EUR",
            "amount": "90.00",
            "count": 1,
        }
    ]


def test_subtree_filter_pending_and_tags(client_for, org):
    client = client_for(finance_user())
    r = client.get(
        "/api/v1/reports/costs/",
        {"organization_unit": org["eng"].pk, "status": "approved,pending", "group_by": "tag:team"},
    )
    assert r.status_code == 200
    rows = {x["tag:team"]: x["total"] for x in r.json()["results"]}
    assert rows == {"platform": "100.00", "web": "20.50", None: "1099.00"}
    r = client.get(
        "/api/v1/reports/costs/",
        {"organization_unit": org["eng"].pk, "include_descendants": "false"},
    )
    assert r.json()["total"] == "100.00"


def test_report_currency_converts_at_the_latest_rate(client_for, org):
    ExchangeRate.objects.create(currency="EUR", date=date(2025, 1, 1), rate=Decimal("1.25"))
    ExchangeRate.objects.create(currency="EUR", date=date(2025, 6, 1), rate=Decimal("2"))
    r = client_for(finance_user()).get(
        "/api/v1/reports/costs/", {"currency": "eur", "end": "2025-03-31"}
    )
    assert r.status_code == 200
    assert (r.json()["currency"], r.json()["total"]) == ("EUR", "181.40")  # 226.75 / 1.25


@pytest.mark.parametrize(
    "params, field",
    [
        ({"group_by": "colour"}, "group_by"),
        ({"group_by": "month,day,currency"}, "group_by"),
        ({"start": "2025-03-01", "end": "2025-02-01"}, "end"),
        ({"start": "2025-02-30"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "GBP"}, "currency"),  # known but no rate
        ({"status": "rejected"}, "status"),
        ({"organization_unit": "abc"}, "organization_unit"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(client_for, org, params, field):
    r = client_for(finance_user()).get("/api/v1/reports/costs/", params)
    assert r.status_code == 400
    assert list(r.json()) == [field]


def test_member_sees_only_their_subtree_and_not_other_units(client_for, org):
    client = client_for(org["member"])
    r = client.get("/api/v1/reports/costs/")
    assert r.json()["total"] == "219.50"  # eng + web, not sales
    r = client.get("/api/v1/reports/costs/", {"organization_unit": org["sales"].pk})
    assert r.status_code == 400
    assert "organization_unit" in r.json()
    assert client.get(f"/api/v1/org-units/{org['sales'].pk}/rollup/").status_code == 404
    assert client.get(f"/api/v1/org-units/{org['company'].pk}/rollup/").status_code == 404
    assert client.get("/api/v1/org-units/999999/rollup/").status_code == 404


def test_rollup_gives_each_child_subtree_and_own(client_for, org, django_assert_max_num_queries):
    client = client_for(finance_user())
    with django_assert_max_num_queries(8):
        r = client.get(f"/api/v1/org-units/{org['company'].pk}/rollup/")
    assert r.status_code == 200
    body = r.json()
    assert (body["own"], body["total"]) == ("0.00", "226.75")
    assert {c["code"]: c["total"] for c in body["children"]} == {"eng": "219.50", "sales": "7.25"}
    eng = next(c for c in body["children"] if c["code"] == "eng")
    assert eng["total_by_currency"] == {"EUR": "90.00", "USD": "120.50"}
    r = client_for(org["member"]).get(
        f"/api/v1/org-units/{org['eng'].pk}/rollup/", {"status": "approved,pending"}
    )
    assert r.json()["own"] == "100.00"
    assert r.json()["children"] == [
        {"id": org["web"].pk, "code": "web", "name": "Web", "total": "1119.50",
         "total_by_currency": {"EUR": "90.00", "USD": "1020.50"}}
    ]  # fmt: skip


def test_rollup_as_csv(client_for, org):
    r = client_for(finance_user()).get(
        f"/api/v1/org-units/{org['company'].pk}/rollup/", {"format": "csv"}
    )
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    lines = r.content.decode().splitlines()
    assert lines[0] == "unit_id,code,name,row,total,currency"
    assert f"{org['eng'].pk},eng,Engineering,child,219.50,USD" in lines
    assert lines[-1] == f"{org['company'].pk},co,Company,total,226.75,USD"


def test_costs_as_csv_and_errors_as_csv(client_for, org):
    client = client_for(finance_user())
    r = client.get("/api/v1/reports/costs/", {"group_by": "month", "format": "csv"})
    assert r.content.decode().splitlines() == [
        "month,total,count",
        "2025-01,100.00,1",
        "2025-02,119.50,2",
        "2025-03,7.25,1",
    ]
    r = client.get("/api/v1/reports/costs/", {"group_by": "organization_unit", "format": "csv"})
    assert f"{org['sales'].pk},'=Sales,7.25,1" in r.content.decode().splitlines()
    r = client.get("/api/v1/reports/costs/", {"group_by": "nope", "format": "csv"})
    assert r.status_code == 400
    assert r.content.decode().startswith("field,message\ngroup_by,\"Unknown group_by key 'nope'")


def test_summary_shape(client_for, org, django_assert_max_num_queries):
    client = client_for(finance_user())
    with django_assert_max_num_queries(8):
        r = client.get("/api/v1/reports/summary/", {"start": "2025-02-01", "end": "2025-02-28"})
    assert r.status_code == 200
    assert r.json() == {
        "total": "119.50",
        "currency": "USD",
        "by_category": {"rep-compute": "20.50", "rep-other": "99.00"},
        "by_resource": {"web-vm": "20.50"},
        "by_tag": {"team": {"web": "20.50"}},
        "entry_count": 2,
        "period_start": "2025-02-01",
        "period_end": "2025-02-28",
    }  # fmt: skip
    r = client.get("/api/v1/reports/summary/", {"period": "monthly"})
    assert r.status_code == 200
    assert r.json()["period_start"].endswith("-01")
    r = client.get("/api/v1/reports/summary/", {"period": "fortnightly"})
    assert (r.status_code, list(r.json())) == (400, ["period"])
    r = client.get("/api/v1/reports/summary/", {"start": "2025-02-01"})
    assert (r.status_code, list(r.json())) == (400, ["end"])
    r = client.get(
        "/api/v1/reports/summary/", {"format": "csv", "start": "2025-02-01", "end": "2025-02-28"}
    )
    assert "2025-02-01,2025-02-28,tag,team,web,20.50,USD" in r.content.decode().splitlines()


def test_anonymous_is_refused(api_client):
    assert api_client.get("/api/v1/reports/costs/").status_code in (401, 403)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"period": "fortnightly"}, "period"),
        ({"period": "monthly", "start": "2025-02-01", "end": "2025-02-28"}, "period"),
        ({"start": "2025-02-01"}, "end"),
        ({"end": "2025-02-28"}, "start"),
        ({"start": "2025-03-01", "end": "2025-02-01"}, "end"),
        ({"start": "2025-02-30", "end": "2025-03-31"}, "start"),
        ({"start": "2025-02-01", "end": "soon"}, "end"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "GBP"}, "currency"),  # known but no rate
        ({"status": "rejected"}, "status"),
        ({"organization_unit": "abc"}, "organization_unit"),
        ({"organization_unit": "999999"}, "organization_unit"),
    ],
)
def test_summary_bad_parameters_are_400_naming_the_parameter(client_for, org, params, field):
    r = client_for(finance_user()).get("/api/v1/reports/summary/", params)
    assert r.status_code == 400, r.content
    assert list(r.json()) == [field]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"start": "2025-02-30"}, "start"),
        ({"start": "last week"}, "start"),
        ({"end": "2025-13-01"}, "end"),
        ({"start": "2025-03-01", "end": "2025-02-01"}, "end"),
        ({"status": "rejected"}, "status"),
        ({"status": "approved,voided"}, "status"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "GBP"}, "currency"),  # known but no rate
    ],
)
def test_rollup_bad_parameters_are_400_naming_the_parameter(client_for, org, params, field):
    r = client_for(finance_user()).get(f"/api/v1/org-units/{org['company'].pk}/rollup/", params)
    assert r.status_code == 400, r.content
    assert list(r.json()) == [field]


def test_rollup_in_a_report_currency(client_for, org):
    ExchangeRate.objects.create(currency="EUR", date=date(2025, 1, 1), rate=Decimal("1.25"))
    ExchangeRate.objects.create(currency="EUR", date=date(2025, 6, 1), rate=Decimal("2"))
    client = client_for(finance_user())
    url = f"/api/v1/org-units/{org['company'].pk}/rollup/"

    r = client.get(url, {"currency": "eur", "end": "2025-03-31"})
    today = client.get(url, {"currency": "EUR"})
    csv_lines = client.get(url, {"currency": "EUR", "end": "2025-03-31", "format": "csv"})

    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["currency"], body["own"], body["total"]) == ("EUR", "0.00", "181.40")
    assert {c["code"]: c["total"] for c in body["children"]} == {"eng": "175.60", "sales": "5.80"}
    eng = next(c for c in body["children"] if c["code"] == "eng")
    assert eng["total_by_currency"] == {"EUR": "90.00", "USD": "120.50"}  # original currencies
    assert today.json()["total"] == "113.38"  # 226.75 / 2, the rate of June
    assert f"{org['company'].pk},co,Company,total,181.40,EUR" in csv_lines.content.decode()


@pytest.mark.parametrize(
    "params, field",
    [
        ({"on": "yesterday"}, "on"),
        ({"periods": "25"}, "periods"),
        ({"periods": "many"}, "periods"),
        ({"organization_unit": "abc"}, "organization_unit"),
        ({"organization_unit": "999999"}, "organization_unit"),
    ],
)
def test_budget_variance_bad_parameters_are_400_naming_the_parameter(
    client_for, org, params, field
):
    r = client_for(finance_user()).get("/api/v1/reports/budget-variance/", params)
    assert r.status_code == 400, r.content
    assert list(r.json()) == [field]


# --- the number of queries does not grow with the data ----------------------------------


def _count_queries(client, url: str, params: dict) -> tuple[int, dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries), response


def _grow(org, *, units: int = 30) -> None:
    """Dozens more units under engineering, each with costs in three currencies, resources,
    tags and categories, and a budget."""
    from tests.budgets.factories import BudgetFactory

    categories = [CostCategoryFactory(slug=f"rep-grow-{i}") for i in range(5)]
    for i in range(units):
        unit = OrganizationUnitFactory(parent=org["eng"] if i % 2 else org["web"])
        resource = ResourceFactory(organization_unit=unit, provider="aws")
        for day in (5, 15, 25):
            CostFactory(
                organization_unit=unit,
                resource=resource if day != 25 else None,
                category=categories[(i + day) % 5],
                amount=Decimal(i + day),
                currency=("USD", "EUR", "JPY")[day % 3],
                incurred_on=date(2025, 2, day),
                tags={"team": f"t{i % 4}"},
            )
        BudgetFactory(name=f"Grow {i}", organization_unit=unit, amount=Decimal("100"))


REPORT_ENDPOINTS = [
    ("/api/v1/reports/costs/", {"group_by": "organization_unit,category"}, 6),
    ("/api/v1/reports/costs/", {"group_by": "resource,tag:team", "format": "csv"}, 6),
    ("/api/v1/reports/summary/", {"start": "2025-01-01", "end": "2025-03-31"}, 6),
    ("rollup", {"status": "approved,pending"}, 6),
    ("rollup", {"format": "csv"}, 6),
    ("/api/v1/reports/budget-variance/", {"on": "2025-02-28", "periods": 3}, 6),
]


@pytest.mark.parametrize("url, params, bound", REPORT_ENDPOINTS)
def test_report_queries_do_not_grow_with_units_costs_and_budgets(
    client_for, org, url, params, bound
):
    from tests.budgets.factories import BudgetFactory

    BudgetFactory(name="Eng", organization_unit=org["eng"], amount=Decimal("500"))
    url = f"/api/v1/org-units/{org['company'].pk}/rollup/" if url == "rollup" else url
    client = client_for(finance_user())
    _count_queries(client, url, params)  # the first request of a session warms caches
    small, before = _count_queries(client, url, params)

    _grow(org)
    large, after = _count_queries(client, url, params)

    assert after.content != before.content  # the larger data really is in the report
    assert large == small <= bound
