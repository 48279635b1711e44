"""The product cost explorer page and the admin."""

from decimal import Decimal

import pytest

from allocation import services
from allocation.models import AllocationEdge, AllocationRun, CostNode
from orgunits import services as org_services
from tests.orgunits.factories import (
    EntityFactory,
    OrganizationUnitFactory,
    ResourceFactory,
    UserFactory,
    auditor_user,
    finance_user,
)

from .factories import MARCH, approved_cost, edge, node, resource_node

pytestmark = pytest.mark.django_db


@pytest.fixture
def run():
    db = resource_node("database", CostNode.Kind.SHARED_SERVICE)
    products = [node(name) for name in ("web_app", "api", "mobile")]
    for p in products:
        edge(db, p)
    approved_cost("100.00", resource=db.resource, category_slug="database")
    return services.allocation_run(**MARCH)


def test_explorer_requires_login(client):
    r = client.get("/allocation/")
    assert r.status_code == 302
    assert "/login/" in r["Location"]


def test_explorer_without_runs_says_so(client):
    client.force_login(UserFactory())
    r = client.get("/allocation/")
    assert r.status_code == 200
    assert "No allocation run has succeeded yet" in r.content.decode()


def test_explorer_lists_products_with_holistic_cost_and_coverage(client, run):
    client.force_login(auditor_user())
    r = client.get("/allocation/")
    html = r.content.decode()
    assert r.status_code == 200
    assert 'id="coverage">100 %' in html
    for name, amount in (("web_app", "33.34"), ("api", "33.33"), ("mobile", "33.33")):
        assert name in html and amount in html
    assert [p["final"] for p in r.context["products"]] == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]


def test_explorer_explains_a_product_by_path(client, run):
    client.force_login(finance_user())
    web = CostNode.objects.get(name="web_app")
    r = client.get(f"/allocation/?run={run.pk}&node={web.pk}")
    html = r.content.decode()
    assert "Why web_app costs 33.34 USD" in html
    assert "database → web_app" in html


def test_explorer_unknown_run_or_node_is_404(client, run):
    client.force_login(UserFactory())
    assert client.get("/allocation/?run=9999").status_code == 404
    assert client.get(f"/allocation/?run={run.pk}&node=9999").status_code == 404
    assert client.get(f"/allocation/?run={run.pk}&node=abc").status_code == 404


def test_explorer_runs_a_bounded_number_of_queries(client, run, django_assert_max_num_queries):
    db = CostNode.objects.get(name="database")
    for i in range(40):
        edge(db, node(f"product-{i}"))
    approved_cost("1.00", resource=db.resource)
    services.allocation_run(**MARCH)
    client.force_login(finance_user())
    web = CostNode.objects.get(name="web_app")
    with django_assert_max_num_queries(14):
        r = client.get(f"/allocation/?node={web.pk}")
    assert len(r.context["products"]) == 43


@pytest.fixture
def shop_run():
    """A shared database split between the shop's two products and the bank's one."""
    shop = OrganizationUnitFactory(name="Shop", code="shop")
    bank = OrganizationUnitFactory(name="Bank", code="bank")
    db = resource_node("database", CostNode.Kind.SHARED_SERVICE)
    products = [
        node("storefront", resource=ResourceFactory(organization_unit=shop)),
        node("checkout", entity=EntityFactory(organization_unit=shop)),
        node("ledger", organization_unit=bank),
    ]
    for p in products:
        edge(db, p)
    approved_cost("90.00", resource=db.resource)
    shopper = UserFactory(username="shopper")
    org_services.membership_set(user=shopper, unit=shop)
    return services.allocation_run(**MARCH), shopper


def test_explorer_shows_a_member_the_products_of_their_units_only(client, shop_run):
    run, shopper = shop_run
    client.force_login(shopper)
    r = client.get("/allocation/")
    html = r.content.decode()
    assert r.status_code == 200
    assert [p["name"] for p in r.context["products"]] == ["checkout", "storefront"]
    assert "storefront" in html and "checkout" in html and "ledger" not in html
    # the organisation's totals and coverage are for finance and auditors
    assert 'id="coverage"' not in html and "raw infrastructure cost" not in html
    assert "90.00" not in html


def test_explorer_explains_a_members_product_but_not_another_units(client, shop_run):
    run, shopper = shop_run
    client.force_login(shopper)
    mine = CostNode.objects.get(name="storefront")
    r = client.get(f"/allocation/?run={run.pk}&node={mine.pk}")
    assert "Why storefront costs 30.00 USD" in r.content.decode()
    for other in ("ledger", "database"):
        other_id = CostNode.objects.get(name=other).pk
        assert client.get(f"/allocation/?run={run.pk}&node={other_id}").status_code == 404


def test_explorer_for_a_member_runs_a_bounded_number_of_queries(
    client, shop_run, django_assert_max_num_queries
):
    _, shopper = shop_run
    shop = shopper.memberships.get().unit
    db = CostNode.objects.get(name="database")
    for i in range(30):
        edge(db, node(f"shop-{i}", resource=ResourceFactory(organization_unit=shop)))
    services.allocation_run(**MARCH)
    client.force_login(shopper)
    mine = CostNode.objects.get(name="storefront")
    with django_assert_max_num_queries(17):
        r = client.get(f"/allocation/?node={mine.pk}")
    assert len(r.context["products"]) == 32


def test_admin_edge_form_refuses_a_cycle(admin_client):
    a, b = node("alpha", "platform"), node("beta")
    edge(a, b)
    r = admin_client.post(
        "/admin/allocation/allocationedge/add/",
        {"parent": b.pk, "child": a.pk, "strategy": "equal", "parameters": "{}", "overrides": "{}"},
    )
    assert r.status_code == 200
    assert "alpha → beta → alpha" in r.content.decode()
    assert AllocationEdge.objects.count() == 1


def test_admin_run_action_reruns_the_period(admin_client, run):
    approved_cost("2.00", resource=CostNode.objects.get(name="database").resource)
    r = admin_client.post(
        "/admin/allocation/allocationrun/",
        {"action": "run_allocation", "_selected_action": [run.pk]},
        follow=True,
    )
    assert r.status_code == 200
    latest = AllocationRun.objects.order_by("-id").first()
    assert latest.pk != run.pk
    assert latest.raw_total == Decimal("102.00")
    assert f"Run #{latest.pk}" in r.content.decode()
    assert admin_client.get(f"/admin/allocation/allocationrun/{run.pk}/change/").status_code == 200
