"""The revenue, P&L and unit-economics API: figures, CSV, permissions per endpoint (with
other units' ids), bad input, bounded queries. The data is the worked example (``econ``)."""

import csv
import io
import json

import pytest

from allocation import services
from allocation.models import AllocationRun, Revenue
from tests.orgunits.factories import EntityFactory, UserFactory, auditor_user, finance_user

from .factories import MARCH, edge, node, usage

pytestmark = pytest.mark.django_db
BASE = "/api/v1"


def pnl_url(econ):
    return f"{BASE}/allocation/runs/{econ['run'].pk}/pnl/"


def by_name(body):
    return {p["name"]: p for p in body["products"]}


# --- revenue -------------------------------------------------------------------------------


def test_finance_creates_replaces_corrects_and_deletes_revenue(econ, client_for):
    fin = client_for(finance_user())
    body = {"node": econ["search"].pk, "date": "2025-03", "amount": "80.00", "currency": "EUR"}
    created = fin.post(f"{BASE}/revenue/", body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert (data["date"], data["grain"], data["amount"], data["currency"]) == (
        "2025-03-01", "month", "80.00", "EUR",
    )  # fmt: skip
    assert (data["amount_reporting"], data["node_name"]) == ("96.00", "search")
    replaced = fin.post(f"{BASE}/revenue/", {**body, "amount": "90.00"}, format="json")
    assert replaced.status_code == 200 and replaced.json()["id"] == data["id"]
    patched = fin.patch(f"{BASE}/revenue/{data['id']}/", {"amount": "100.00"}, format="json")
    assert patched.status_code == 200 and patched.json()["amount_reporting"] == "120.00"
    assert fin.delete(f"{BASE}/revenue/{data['id']}/").status_code == 204
    assert not Revenue.objects.filter(pk=data["id"]).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"date": "2025-13"}, "date"),
        ({"date": "2025-03", "grain": "day"}, "grain"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": "1e3"}, "amount"),
        ({"currency": "XXQ"}, "currency"),
        ({"currency": "GBP"}, "currency"),
        ({"node": "k8s"}, "node"),
        ({"node": 999999}, "node"),
    ],
)
def test_bad_revenue_is_a_400_naming_the_field_and_writes_nothing(econ, client_for, change, field):
    before = Revenue.objects.count()
    body = {"node": econ["search"].pk, "date": "2025-03-02", "amount": "1.00", "currency": "USD"}
    body.update(
        {k: econ[v].pk if k == "node" and isinstance(v, str) else v for k, v in change.items()}
    )
    r = client_for(finance_user()).post(f"{BASE}/revenue/", body, format="json")
    assert r.status_code == 400
    assert field in r.json(), r.json()
    assert Revenue.objects.count() == before


def test_members_read_the_revenue_of_their_products_only(econ, client_for):
    shopper, banker = client_for(econ["shopper"]), client_for(econ["banker"])
    listed = shopper.get(f"{BASE}/revenue/").json()
    assert sorted(r["node_name"] for r in listed["results"]) == ["checkout"] * 3 + ["search"]
    assert banker.get(f"{BASE}/revenue/").json()["count"] == 0
    assert client_for(UserFactory()).get(f"{BASE}/revenue/").json()["count"] == 0
    suite_row = Revenue.objects.get(node=econ["suite"])
    checkout_row = Revenue.objects.filter(node=econ["checkout"]).first()
    assert shopper.get(f"{BASE}/revenue/{suite_row.pk}/").status_code == 404
    assert banker.get(f"{BASE}/revenue/{checkout_row.pk}/").status_code == 404
    assert shopper.get(f"{BASE}/revenue/{checkout_row.pk}/").status_code == 200
    other = shopper.get(f"{BASE}/revenue/", {"node": econ["suite"].pk}).json()
    assert other["count"] == 0


@pytest.mark.parametrize("role", ["member", "auditor"])
def test_only_finance_writes_revenue(econ, client_for, role):
    client = client_for(econ["shopper"] if role == "member" else auditor_user())
    row = Revenue.objects.filter(node=econ["checkout"]).first()
    body = {"node": econ["checkout"].pk, "date": "2025-03-03", "amount": "1.00"}
    writes = [
        client.post(f"{BASE}/revenue/", body, format="json"),
        client.patch(f"{BASE}/revenue/{row.pk}/", {"amount": "2.00"}, format="json"),
        client.delete(f"{BASE}/revenue/{row.pk}/"),
    ]
    assert [w.status_code for w in writes] == [403, 403, 403]
    row.refresh_from_db()
    assert Revenue.objects.count() == 5 and row.amount != 2


def test_a_finance_user_cannot_write_revenue_for_a_node_that_is_no_product(econ, client_for):
    r = client_for(finance_user()).post(
        f"{BASE}/revenue/",
        {"node": econ["db"].pk, "date": "2025-03-03", "amount": "1.00"},
        format="json",
    )
    assert r.status_code == 400 and "node" in r.json()


# --- the P&L -------------------------------------------------------------------------------


def test_the_pnl_endpoint_gives_the_worked_example(econ, client_for):
    r = client_for(finance_user()).get(pnl_url(econ))
    assert r.status_code == 200
    body = r.json()
    lines = by_name(body)
    assert (
        lines["checkout"]["own"]
        == {
            "revenue": "1620.00000000",
            "direct_cost": "0E-8",
            "allocated_cost": "1040.00000000",
            "holistic_cost": "1040.00000000",
            "gross_margin": "580.00000000",
            "margin_pct": "35.80",
        }
        or lines["checkout"]["own"]["gross_margin"] == "580.00"
    )
    assert lines["suite"]["rolled_up"]["gross_margin"] in ("530.00", "530.00000000")
    assert body["totals"]["holistic_cost"] in ("1650.00", "1650.00000000")
    assert body["totals"]["margin_pct"] == "16.24"


def test_the_pnl_as_csv(econ, client_for):
    fin = client_for(finance_user())
    for response in (
        fin.get(pnl_url(econ), {"format": "csv"}),
        fin.get(pnl_url(econ), HTTP_ACCEPT="text/csv"),
    ):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [r["name"] for r in rows] == ["reporting", "suite", "checkout", "search", "Total"]
        suite = rows[1]
        assert (suite["revenue"], suite["rolled_up_revenue"], suite["rolled_up_margin_pct"]) == (
            "50.00", "1970.00", "26.90",
        )  # fmt: skip
        assert rows[-1]["holistic_cost"] == "1650.00" and rows[-1]["gross_margin"] == "320.00"


def test_a_member_sees_the_margins_of_their_products_only(econ, client_for):
    shop = client_for(econ["shopper"]).get(pnl_url(econ)).json()
    assert [(p["name"], p["depth"]) for p in shop["products"]] == [("checkout", 0), ("search", 0)]
    assert shop["totals"]["revenue"] == "1920.00"
    bank = client_for(econ["banker"]).get(pnl_url(econ)).json()
    assert [p["name"] for p in bank["products"]] == ["reporting"]
    csv_rows = client_for(econ["banker"]).get(pnl_url(econ), {"format": "csv"}).content.decode()
    assert "checkout" not in csv_rows and "suite" not in csv_rows
    nobody = client_for(UserFactory()).get(pnl_url(econ)).json()
    assert nobody["products"] == [] and nobody["totals"]["revenue"] == "0.00"


def test_a_run_that_did_not_succeed_has_no_pnl(econ, client_for):
    pending = AllocationRun.objects.create(
        period_start=MARCH["period_start"], period_end=MARCH["period_end"], currency="USD"
    )
    fin = client_for(finance_user())
    r = fin.get(f"{BASE}/allocation/runs/{pending.pk}/pnl/")
    assert r.status_code == 409 and r.json()["code"] == "run_not_succeeded"
    assert fin.get(f"{BASE}/allocation/runs/999999/pnl/").status_code == 404


# --- unit economics ------------------------------------------------------------------------


def test_unit_costs_of_a_run(econ, client_for):
    url = f"{BASE}/allocation/runs/{econ['run'].pk}/unit-economics/"
    fin = client_for(finance_user())
    body = fin.get(url, {"metric": "requests"}).json()
    assert body["label"] == "per 1,000 requests"
    got = {r["name"]: r["cost_per_unit"] for r in body["results"]}
    assert got == {"checkout": "2.6000", "reporting": None, "search": "4.0000"}
    rows = list(
        csv.DictReader(
            io.StringIO(fin.get(url, {"metric": "requests", "format": "csv"}).content.decode())
        )
    )
    assert [(r["name"], r["cost_per_unit"]) for r in rows][0] == ("checkout", "2.6000")
    missing = fin.get(url)
    assert missing.status_code == 400 and "metric" in missing.json()
    assert fin.get(url, {"metric": "requests", "per": "0"}).status_code == 400
    shop = client_for(econ["shopper"]).get(url, {"metric": "requests"}).json()
    assert sorted(r["name"] for r in shop["results"]) == ["checkout", "search"]
    bank = client_for(econ["banker"]).get(url, {"metric": "requests"}).json()
    assert [r["name"] for r in bank["results"]] == ["reporting"]


def test_a_products_unit_cost_trend_and_other_units_ids(econ, client_for):
    def url(name):
        return f"{BASE}/allocation/nodes/{econ[name].pk}/unit-economics/"

    shopper = client_for(econ["shopper"])
    r = shopper.get(url("checkout"), {"metric": "requests", "months": 2, "end": "2025-03"})
    assert r.status_code == 200
    points = r.json()["metrics"][0]["points"]
    assert [(p["month"], p["cost_per_unit"]) for p in points] == [
        ("2025-02", None),
        ("2025-03", "2.6000"),
    ]
    for other in ("reporting", "suite", "db"):
        assert shopper.get(url(other)).status_code == 404, other
    banker = client_for(econ["banker"])
    assert banker.get(url("checkout")).status_code == 404
    fin = client_for(finance_user())
    assert fin.get(url("db")).status_code == 400  # not a product
    assert fin.get(url("checkout"), {"end": "March"}).status_code == 400
    assert fin.get(url("checkout"), {"months": 99}).status_code == 400


def test_anonymous_is_refused_on_every_new_endpoint(econ, api_client):
    run, checkout = econ["run"].pk, econ["checkout"].pk
    row = Revenue.objects.first().pk
    for url in (
        f"{BASE}/revenue/",
        f"{BASE}/revenue/{row}/",
        f"{BASE}/allocation/runs/{run}/pnl/",
        f"{BASE}/allocation/runs/{run}/unit-economics/?metric=requests",
        f"{BASE}/allocation/nodes/{checkout}/unit-economics/",
    ):
        assert api_client.get(url).status_code == 401, url


def test_the_new_endpoints_run_a_bounded_number_of_queries(
    econ, client_for, django_assert_max_num_queries
):
    for i in range(25):
        product = node(
            f"extra-{i}",
            entity=EntityFactory(organization_unit=econ["shop"]),
            parent_product=econ["checkout"] if i % 2 else None,
        )
        edge(econ["k8s"], product, "proportional", {"metric": "cpu_hours"})
        usage(product, "cpu_hours", 1)
        usage(product, "requests", 1000)
        services.revenue_set(node=product, date=MARCH["period_start"], amount=i + 1)
    run = services.allocation_run(**MARCH)
    shopper, fin = client_for(econ["shopper"]), client_for(finance_user())
    for client in (shopper, fin):
        for url, params in (
            (f"{BASE}/revenue/", {}),
            (f"{BASE}/allocation/runs/{run.pk}/pnl/", {}),
            (f"{BASE}/allocation/runs/{run.pk}/pnl/", {"format": "csv"}),
            (f"{BASE}/allocation/runs/{run.pk}/unit-economics/", {"metric": "requests"}),
            (f"{BASE}/allocation/nodes/{econ['checkout'].pk}/unit-economics/", {}),
        ):
            with django_assert_max_num_queries(8):
                r = client.get(url, params)
            assert r.status_code == 200, url
    assert len(shopper.get(f"{BASE}/allocation/runs/{run.pk}/pnl/").json()["products"]) == 27


def test_the_schema_documents_the_new_endpoints_and_residual_to_max(client):
    client.force_login(UserFactory())
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in (
        "/api/v1/revenue/",
        "/api/v1/revenue/{id}/",
        "/api/v1/allocation/runs/{id}/pnl/",
        "/api/v1/allocation/runs/{id}/unit-economics/",
        "/api/v1/allocation/nodes/{id}/unit-economics/",
    ):
        assert path in schema["paths"], path
    strategy = schema["components"]["schemas"]["AllocationEdge"]["properties"]["strategy"]
    text = json.dumps(strategy) + json.dumps(schema["components"]["schemas"])
    assert "residual_to_max: all that the fixed shares leave goes to the child with the" in text
    assert "300.00, 0.00 and 700.00" in text
