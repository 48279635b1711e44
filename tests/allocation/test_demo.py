"""The allocation demo step builds a graph whose runs hold the invariants, idempotently."""

import pytest

from allocation.demo import seed_allocation
from allocation.models import AllocationEdge, AllocationRun, CostNode, UsageRecord
from tests.orgunits.factories import ResourceFactory

from .factories import approved_cost

pytestmark = pytest.mark.django_db


def test_demo_graph_is_built_once_and_allocates_everything(settings):
    from datetime import date, timedelta

    from django.utils import timezone

    resources = [ResourceFactory(name=f"demo-{i}") for i in range(5)]
    month_end = timezone.localdate().replace(day=1) - timedelta(days=1)
    for resource in resources:
        approved_cost("120.00", resource=resource, incurred_on=month_end.replace(day=10))

    first = seed_allocation(context={})
    counts = (CostNode.objects.count(), AllocationEdge.objects.count(), UsageRecord.objects.count())
    second = seed_allocation(context={})

    assert counts == (
        CostNode.objects.count(),
        AllocationEdge.objects.count(),
        UsageRecord.objects.count(),
    )
    assert first == second
    run = AllocationRun.objects.get(pk=first["allocation_runs"][-1])
    assert run.status == "succeeded"
    assert run.raw_total == 600
    assert run.allocated_total == 600
    assert run.invariants["violations"] == []
    assert date.today() > run.period_end


def test_demo_economics_gives_the_products_owners_a_tree_and_revenue_with_margins():
    from datetime import date, timedelta
    from decimal import Decimal

    from django.utils import timezone

    from allocation import economics
    from allocation.demo_economics import OWNERS, seed_economics
    from allocation.models import Revenue
    from costs.models import ExchangeRate
    from tests.orgunits.factories import OrganizationUnitFactory

    for team in sorted({team for team, _ in OWNERS.values()}):
        OrganizationUnitFactory(code=team, name=team)
    ExchangeRate.objects.create(currency="EUR", date=date(2020, 1, 1), rate=Decimal("1.08"))
    resources = [ResourceFactory(name=f"demo-{i}") for i in range(4)]
    month_end = timezone.localdate().replace(day=1) - timedelta(days=1)
    for resource in resources:
        approved_cost("250.00", resource=resource, incurred_on=month_end.replace(day=10))
    context = seed_allocation(context={})
    runs_before = AllocationRun.objects.count()

    first = seed_economics(context=context)
    rows = sorted(Revenue.objects.values_list("node__name", "date", "grain", "amount"))
    assert first["revenue_rows"] == len(rows) > 0
    products = {n.name: n for n in CostNode.objects.filter(kind="product")}
    assert products["web_app"].entity.organization_unit.code == "team-checkout"
    assert products["component"].parent_product == products["suite"]
    assert products["premium"].parent_product == products["base"]
    assert (
        Revenue.objects.filter(node__name="mobile").values_list("currency", flat=True)[0] == "EUR"
    )
    assert set(Revenue.objects.filter(node__name="enterprise").values_list("grain", flat=True)) == {
        "month"
    }

    run = AllocationRun.objects.get(pk=context["allocation_runs"][-1])
    report = economics.product_pnl(run=run)
    margins = {p["name"]: p["own"]["gross_margin"] for p in report["products"]}
    assert margins["analytics"] < 0 < margins["api"]  # sells below cost / above it
    assert report["totals"]["holistic_cost"] == run.allocated_total

    assert seed_economics(context=context) == first  # idempotent: nothing new, nothing changed
    assert sorted(Revenue.objects.values_list("node__name", "date", "grain", "amount")) == rows
    assert seed_allocation(context={}) == context  # the allocation inputs did not change
    assert AllocationRun.objects.count() == runs_before
