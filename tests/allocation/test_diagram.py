"""The allocation flow diagram: its layout (columns, bands as wide as their amounts, graceful
grouping of large graphs) and the explorer page that draws it, with each user's scope."""

import re
from decimal import Decimal

import pytest

from allocation import services
from allocation.diagram import NodeInput, flow_diagram
from allocation.models import CostNode
from orgunits import services as org_services
from tests.orgunits.factories import (
    OrganizationUnitFactory,
    ResourceFactory,
    UserFactory,
    finance_user,
)

from .factories import MARCH, approved_cost, edge, node, resource_node


def _node(n, name, kind="product", holistic="0", retained="0"):
    return NodeInput(n, name, kind, Decimal(holistic), Decimal(retained))


def test_layers_follow_the_longest_path_and_bands_match_amounts():
    nodes = {
        1: _node(1, "cluster", "shared_service", "300"),
        2: _node(2, "database", "shared_service", "120"),
        3: _node(3, "web", holistic="220", retained="220"),
        4: _node(4, "api", holistic="80", retained="80"),
    }
    flows = [
        (1, 2, Decimal("100")),
        (1, 3, Decimal("200")),
        (2, 3, Decimal("20")),
        (2, 4, Decimal("80")),
    ]
    diagram = flow_diagram(nodes=nodes, flows=flows)
    layer = {n.key: n.layer for n in diagram.nodes}
    assert layer == {1: 0, 2: 1, 3: 2, 4: 2}  # web sits after the database that feeds it
    assert diagram.columns == 3 and diagram.hidden_flows == 0 and diagram.grouped_nodes == 0
    width = {(f.source.key, f.target.key): f.width for f in diagram.flows}
    assert width[(1, 3)] == pytest.approx(2 * width[(1, 2)])
    assert width[(2, 4)] == pytest.approx(4 * width[(2, 3)])
    # bands leave the source's bar stacked, within its height
    cluster = next(n for n in diagram.nodes if n.key == 1)
    assert width[(1, 2)] + width[(1, 3)] <= cluster.height + 1e-6
    for flow in diagram.flows:
        assert flow.path.startswith(f"M{flow.source.x + 14:.1f},")
        assert flow.path.endswith(f"{flow.target.x:.1f},{flow.path.rsplit(',', 1)[1]}")


def test_highlight_marks_the_sources_of_one_node():
    nodes = {
        1: _node(1, "cluster", "shared_service", "300"),
        2: _node(2, "database", "shared_service", "100"),
        3: _node(3, "web", holistic="200", retained="200"),
        4: _node(4, "api", holistic="100", retained="100"),
    }
    flows = [(1, 2, Decimal("100")), (1, 3, Decimal("200")), (2, 4, Decimal("100"))]
    diagram = flow_diagram(nodes=nodes, flows=flows, highlight=4)
    assert {n.key for n in diagram.nodes if n.highlighted} == {1, 2, 4}
    assert {(f.source.key, f.target.key) for f in diagram.flows if f.highlighted} == {
        (1, 2),
        (2, 4),
    }


def test_a_large_graph_groups_small_nodes_and_leaves_out_small_flows_but_keeps_totals():
    nodes = {1: _node(1, "platform", "shared_service", "5050")}
    flows = []
    for i in range(2, 102):  # 100 products receiving 1 … 100
        nodes[i] = _node(i, f"product {i:03}", holistic=str(i - 1), retained=str(i - 1))
        flows.append((1, i, Decimal(i - 1)))
    diagram = flow_diagram(nodes=nodes, flows=flows, per_layer=8, max_flows=60)
    products = [n for n in diagram.nodes if n.layer == 1]
    assert len(products) == 9  # the eight largest and one bar for the rest
    group = next(n for n in products if n.kind == "group")
    assert (group.name, group.grouped, group.value) == ("92 other nodes", 92, Decimal(92 * 93 / 2))
    assert {n.name for n in products if n.kind != "group"} == {
        f"product {i:03}" for i in range(94, 102)
    }
    assert diagram.grouped_nodes == 92 and diagram.hidden_flows == 0
    drawn = sum(f.amount for f in diagram.flows)
    assert drawn == Decimal(5050)

    few = flow_diagram(nodes=nodes, flows=flows, per_layer=200, max_flows=10)
    assert len(few.flows) == 10 and few.hidden_flows == 90
    assert sum(f.amount for f in few.flows) + few.hidden_amount == Decimal(5050)


def test_nothing_to_draw():
    assert flow_diagram(nodes={1: _node(1, "alone", holistic="5")}, flows=[]) is None


# --- the page ---------------------------------------------------------------------------


@pytest.fixture
def run(db):
    shared = resource_node("database", CostNode.Kind.SHARED_SERVICE)
    for name in ("web_app", "api", "mobile"):
        edge(shared, node(name))
    approved_cost("100.00", resource=shared.resource, category_slug="database")
    return services.allocation_run(**MARCH)


@pytest.mark.django_db
def test_explorer_draws_the_flows_of_the_run(client, run, django_assert_max_num_queries):
    client.force_login(finance_user())
    with django_assert_max_num_queries(12):
        r = client.get("/allocation/")
    html = r.content.decode()
    assert r.status_code == 200
    svg = html[html.index('<svg class="sankey"') : html.index("</svg>", html.index("sankey"))]
    titles = re.findall(r"<path [^>]*><title>([^<]*)</title>", svg)
    assert sorted(titles) == [
        "database → api: 33.33 USD",
        "database → mobile: 33.33 USD",
        "database → web_app: 33.34 USD",
    ]
    assert "database: 100.00 USD" in svg
    assert "off-path" not in svg

    web = CostNode.objects.get(name="web_app")
    html = client.get(f"/allocation/?run={run.pk}&node={web.pk}").content.decode()
    assert html.count('class="flow on-path"') == 1
    assert html.count('class="flow off-path"') == 2


@pytest.mark.django_db
def test_a_member_sees_only_the_flows_of_their_units_without_other_totals(client, db):
    shop = OrganizationUnitFactory(name="Shop", code="shop")
    bank = OrganizationUnitFactory(name="Bank", code="bank")
    shared = resource_node("database", CostNode.Kind.SHARED_SERVICE)
    edge(shared, node("storefront", resource=ResourceFactory(organization_unit=shop)))
    edge(shared, node("ledger <b>", organization_unit=bank))
    approved_cost("90.00", resource=shared.resource)
    services.allocation_run(**MARCH)
    shopper = UserFactory(username="shopper")
    org_services.membership_set(user=shopper, unit=shop)
    client.force_login(shopper)
    html = client.get("/allocation/").content.decode()
    svg = html[html.index('<svg class="sankey"') : html.index("</svg>", html.index("sankey"))]
    assert re.findall(r"<path [^>]*><title>([^<]*)</title>", svg) == [
        "database → storefront: 45.00 USD"
    ]
    assert "ledger" not in html and "90.00" not in html
    assert "database: 45.00 USD" in svg


@pytest.mark.django_db
def test_node_names_are_escaped_in_the_diagram(client, db):
    shared = resource_node("<script>alert(1)</script>", CostNode.Kind.SHARED_SERVICE)
    edge(shared, node("web"))
    approved_cost("10.00", resource=shared.resource)
    services.allocation_run(**MARCH)
    client.force_login(finance_user())
    html = client.get("/allocation/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
