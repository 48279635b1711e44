"""Explaining a node's cost path by path, on deep and wide graphs."""

from decimal import Decimal

import pytest

from allocation import selectors, services
from allocation.models import AllocationEdge, CostNode

from .factories import MARCH, approved_cost, edge, node, resource_node

pytestmark = pytest.mark.django_db


def test_explain_follows_a_deep_chain_without_recursion_limits():
    source = resource_node("source", CostNode.Kind.PLATFORM)
    chain = CostNode.objects.bulk_create(
        [CostNode(name=f"p{i}", kind=CostNode.Kind.PRODUCT) for i in range(1200)]
    )
    # Written in bulk: this test is about explaining, not about validating 1,200 edges.
    AllocationEdge.objects.bulk_create(
        AllocationEdge(parent=parent, child=child, strategy="fixed_percent",
                       parameters={"percent": "100"})
        for parent, child in zip([source, *chain], chain, strict=False)
    )  # fmt: skip
    previous = chain[-1]
    approved_cost("12.34", resource=source.resource)
    run = services.allocation_run(**MARCH)

    explained = selectors.explain_node(run=run, node=previous)

    assert explained["holistic"] == Decimal("12.34")
    [path] = explained["paths"]
    assert len(path["path"]) == 1201
    assert path["source"] == "source"
    assert path["amount"] == Decimal("12.34")


def test_explain_paths_sum_to_the_holistic_cost_across_diamonds():
    a, b = resource_node("a", CostNode.Kind.SHARED_SERVICE), resource_node("b", "platform")
    mid1, mid2, top = node("mid1", "platform"), node("mid2", "platform"), node("top")
    for parent in (a, b):
        edge(parent, mid1)
        edge(parent, mid2)
    edge(mid1, top)
    edge(mid2, top)
    approved_cost("10.00", resource=a.resource)
    approved_cost("0.01", resource=b.resource)
    run = services.allocation_run(**MARCH)

    explained = selectors.explain_node(run=run, node=top)

    assert explained["holistic"] == Decimal("10.01")
    assert sum(p["amount"] for p in explained["paths"]) == Decimal("10.01")
    assert {tuple(s["name"] for s in p["path"]) for p in explained["paths"]} <= {
        ("a", "mid1", "top"),
        ("a", "mid2", "top"),
        ("b", "mid1", "top"),
        ("b", "mid2", "top"),
    }
