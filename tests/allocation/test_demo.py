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
