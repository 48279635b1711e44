"""Who reads what of the allocation API, per endpoint and role (SPEC 2.1, 5).

Finance and auditors read everything; anyone else reads the nodes linked to objects of
their units (with subtrees) and what the runs gave those nodes. Only finance writes.
"""

from datetime import date

import pytest

from allocation import services
from allocation.models import AllocationEdge, AllocationRun, CostNode, UsageRecord
from orgunits import services as org_services
from tests.orgunits.factories import (
    EntityFactory,
    OrganizationUnitFactory,
    ResourceFactory,
    UserFactory,
    auditor_user,
    finance_user,
)

from .factories import MARCH, approved_cost, edge, node, usage

pytestmark = pytest.mark.django_db

BASE = "/api/v1/allocation"


@pytest.fixture
def org():
    """Two divisions, each with a product; a shared platform that serves both.

    ``team`` (under ``shop``) holds ``shop_api`` through an entity; ``shop`` holds
    ``storefront`` through a resource; ``bank`` holds ``ledger`` through its unit.
    """
    shop = OrganizationUnitFactory(name="Shop", code="shop")
    team = OrganizationUnitFactory(name="Shop team", code="shop-team", parent=shop)
    bank = OrganizationUnitFactory(name="Bank", code="bank")
    platform = node("platform", CostNode.Kind.PLATFORM, resource=ResourceFactory())
    storefront = node("storefront", resource=ResourceFactory(organization_unit=shop))
    shop_api = node("shop_api", entity=EntityFactory(organization_unit=team))
    ledger = node("ledger", organization_unit=bank)
    for product in (storefront, shop_api, ledger):
        edge(platform, product)
    for product in (storefront, shop_api, ledger):
        usage(product, "requests", 10)
    approved_cost("300.00", resource=platform.resource)
    run = services.allocation_run(**MARCH)
    shopper = UserFactory(username="shopper")
    org_services.membership_set(user=shopper, unit=shop)
    banker = UserFactory(username="banker")
    org_services.membership_set(user=banker, unit=bank)
    return {
        "run": run,
        "platform": platform,
        "storefront": storefront,
        "shop_api": shop_api,
        "ledger": ledger,
        "shopper": shopper,
        "banker": banker,
    }


def names(rows, key="name"):
    return sorted(row[key] for row in rows)


def test_a_member_sees_the_nodes_of_their_units_and_subtrees(org, client_for):
    shopper = client_for(org["shopper"])
    assert names(shopper.get(f"{BASE}/nodes/").json()["results"]) == ["shop_api", "storefront"]
    banker = client_for(org["banker"])
    assert names(banker.get(f"{BASE}/nodes/").json()["results"]) == ["ledger"]
    nobody = client_for(UserFactory())
    assert nobody.get(f"{BASE}/nodes/").json()["count"] == 0


def test_another_units_node_is_404_everywhere(org, client_for):
    shopper = client_for(org["shopper"])
    for other in (org["ledger"], org["platform"]):
        assert shopper.get(f"{BASE}/nodes/{other.pk}/").status_code == 404
        explain = shopper.get(f"{BASE}/nodes/{other.pk}/explain/", {"run": org["run"].pk})
        assert explain.status_code == 404
    assert shopper.get(f"{BASE}/nodes/{org['storefront'].pk}/").status_code == 200


def test_a_member_explains_their_own_product(org, client_for):
    shopper = client_for(org["shopper"])
    r = shopper.get(f"{BASE}/nodes/{org['storefront'].pk}/explain/", {"run": org["run"].pk})
    assert r.status_code == 200
    body = r.json()
    assert body["holistic"] == "100.00000000"
    assert [[s["name"] for s in p["path"]] for p in body["paths"]] == [["platform", "storefront"]]


def test_a_member_reads_the_results_and_flows_of_their_nodes_only(org, client_for):
    shopper = client_for(org["shopper"])
    run = org["run"].pk
    results = shopper.get(f"{BASE}/runs/{run}/results/").json()
    assert names(results["results"]) == ["shop_api", "storefront"]
    assert results["count"] == 2
    other = shopper.get(f"{BASE}/runs/{run}/results/", {"node": org["ledger"].pk}).json()
    assert other["count"] == 0
    flows = shopper.get(f"{BASE}/runs/{run}/flows/").json()["results"]
    assert sorted((f["from_name"], f["to_name"]) for f in flows) == [
        ("platform", "shop_api"),
        ("platform", "storefront"),
    ]
    into_ledger = shopper.get(f"{BASE}/runs/{run}/flows/", {"to_node": org["ledger"].pk})
    assert into_ledger.json()["count"] == 0


def test_a_member_reads_the_edges_and_usage_of_their_nodes_only(org, client_for):
    banker = client_for(org["banker"])
    edges = banker.get(f"{BASE}/edges/").json()["results"]
    assert [(e["parent_name"], e["child_name"]) for e in edges] == [("platform", "ledger")]
    rows = banker.get(f"{BASE}/usage/").json()["results"]
    assert names(rows, "node_name") == ["ledger"]
    other = UsageRecord.objects.get(node=org["storefront"])
    assert banker.get(f"{BASE}/usage/{other.pk}/").status_code == 404
    other_edge = AllocationEdge.objects.get(child=org["storefront"])
    assert banker.get(f"{BASE}/edges/{other_edge.pk}/").status_code == 404


def test_a_member_sees_which_runs_ran_but_not_the_organisation_figures(org, client_for):
    shopper = client_for(org["shopper"])
    run = org["run"].pk
    [listed] = shopper.get(f"{BASE}/runs/").json()["results"]
    detail = shopper.get(f"{BASE}/runs/{run}/").json()
    for body in (listed, detail):
        assert body["id"] == run and body["status"] == "succeeded"
        for hidden in ("raw_total", "allocated_total", "coverage", "invariants", "error"):
            assert hidden not in body
    r = shopper.get(f"{BASE}/runs/{run}/reconciliation/")
    assert r.status_code == 403
    assert r.json()["code"] == "permission_denied"


@pytest.mark.parametrize("role", ["finance", "auditor"])
def test_finance_and_auditors_read_everything(org, client_for, role):
    client = client_for(finance_user() if role == "finance" else auditor_user())
    run = org["run"].pk
    assert client.get(f"{BASE}/nodes/").json()["count"] == 4
    assert client.get(f"{BASE}/edges/").json()["count"] == 3
    assert client.get(f"{BASE}/usage/").json()["count"] == 3
    assert client.get(f"{BASE}/runs/{run}/results/").json()["count"] == 4
    assert client.get(f"{BASE}/runs/{run}/flows/").json()["count"] == 3
    assert client.get(f"{BASE}/runs/{run}/").json()["raw_total"] == "300.00000000"
    rec = client.get(f"{BASE}/runs/{run}/reconciliation/")
    assert rec.status_code == 200 and rec.json()["raw_infrastructure_cost"] == "300.00000000"
    explain = client.get(f"{BASE}/nodes/{org['ledger'].pk}/explain/", {"run": run})
    assert explain.json()["holistic"] == "100.00000000"


@pytest.mark.parametrize("role", ["member", "auditor"])
def test_only_finance_writes(org, client_for, role):
    user = org["shopper"] if role == "member" else auditor_user()
    client = client_for(user)
    mine = org["storefront"]
    my_edge = AllocationEdge.objects.get(child=mine)
    before = (CostNode.objects.count(), AllocationEdge.objects.count())
    writes = [
        client.post(f"{BASE}/nodes/", {"name": "x", "kind": "product"}, format="json"),
        client.patch(f"{BASE}/nodes/{mine.pk}/", {"description": "mine"}, format="json"),
        client.delete(f"{BASE}/nodes/{mine.pk}/"),
        client.post(f"{BASE}/edges/", {"parent": mine.pk, "child": org["shop_api"].pk}),
        client.patch(f"{BASE}/edges/{my_edge.pk}/", {"strategy": "equal"}, format="json"),
        client.delete(f"{BASE}/edges/{my_edge.pk}/"),
        client.post(
            f"{BASE}/usage/",
            {"node": mine.pk, "metric": "cpu", "date": "2025-03-02", "quantity": "1"},
            format="json",
        ),
        client.post(f"{BASE}/runs/", {"period": "2025-04"}, format="json"),
    ]
    assert [w.status_code for w in writes] == [403] * len(writes)
    assert (CostNode.objects.count(), AllocationEdge.objects.count()) == before
    assert UsageRecord.objects.count() == 3
    assert AllocationRun.objects.filter(period_start=date(2025, 4, 1)).count() == 0
    mine.refresh_from_db()
    assert mine.description == ""


def test_anonymous_is_refused_everywhere(org, api_client):
    run, node_id = org["run"].pk, org["storefront"].pk
    for url in (
        f"{BASE}/nodes/",
        f"{BASE}/nodes/{node_id}/explain/",
        f"{BASE}/edges/",
        f"{BASE}/usage/",
        f"{BASE}/runs/",
        f"{BASE}/runs/{run}/",
        f"{BASE}/runs/{run}/results/",
        f"{BASE}/runs/{run}/flows/",
        f"{BASE}/runs/{run}/reconciliation/",
    ):
        assert api_client.get(url).status_code == 401, url


def test_scoped_lists_run_a_bounded_number_of_queries(
    org, client_for, django_assert_max_num_queries
):
    shop = org["storefront"].resource.organization_unit
    for i in range(20):
        product = node(f"shop-{i}", resource=ResourceFactory(organization_unit=shop))
        edge(org["platform"], product)
    run = services.allocation_run(**MARCH)
    shopper = client_for(org["shopper"])
    for url in (
        f"{BASE}/nodes/",
        f"{BASE}/edges/",
        f"{BASE}/usage/",
        f"{BASE}/runs/",
        f"{BASE}/runs/{run.pk}/results/",
        f"{BASE}/runs/{run.pk}/flows/",
    ):
        with django_assert_max_num_queries(6):
            r = shopper.get(url)
        assert r.status_code == 200, url
    assert shopper.get(f"{BASE}/runs/{run.pk}/results/").json()["count"] == 22
