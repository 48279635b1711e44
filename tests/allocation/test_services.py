"""Graph validation, runs loading approved costs, idempotency, the ledger and the task."""

from datetime import date
from decimal import Decimal

import pytest

from allocation import services
from allocation.models import (
    AllocationFlow,
    AllocationResult,
    AllocationRun,
    CostNode,
    LedgerEntry,
)
from costs.models import Cost
from costtrack.core.exceptions import ValidationError
from tests.orgunits.factories import EntityFactory, OrganizationUnitFactory

from .factories import MARCH, approved_cost, edge, node, resource_node, usage

pytestmark = pytest.mark.django_db


def holistic(run, n):
    return sum(r.holistic for r in AllocationResult.objects.filter(run=run, node=n))


# --- graph validation ------------------------------------------------------------------


def test_a_cycle_is_refused_with_the_cycle_named():
    a, b, c = node("a", "platform"), node("b", "shared_service"), node("c")
    edge(a, b)
    edge(b, c)
    with pytest.raises(ValidationError) as excinfo:
        edge(c, a)
    assert excinfo.value.field == "child"
    assert "c → a → b → c" in excinfo.value.message or "a → b → c → a" in excinfo.value.message


def test_fixed_shares_above_100_percent_are_refused_naming_the_nodes():
    base, ent, prem = node("base"), node("enterprise"), node("premium")
    edge(base, ent, "fixed_percent", {"percent": "60"})
    with pytest.raises(ValidationError) as excinfo:
        edge(base, prem, "fixed_percent", {"percent": "50"})
    message = excinfo.value.message
    assert "'base'" in message and "'enterprise' 60 %" in message and "'premium' 50 %" in message
    assert "110 %" in message
    assert not base.out_edges.filter(child=prem).exists()


def test_parameters_must_fit_the_strategy():
    a, b = node("k8s", "platform"), node("web")
    with pytest.raises(ValidationError) as excinfo:
        edge(a, b, "proportional", {})
    assert excinfo.value.field == "parameters"
    assert "needs: metric" in excinfo.value.message


def test_mixed_rules_under_one_parent_are_refused():
    k8s, web, api = node("k8s", "platform"), node("web"), node("api")
    edge(k8s, web, "proportional", {"metric": "cpu_hours"})
    with pytest.raises(ValidationError) as excinfo:
        edge(k8s, api, "equal")
    assert "must split by one rule" in excinfo.value.message


def test_a_node_links_one_object_at_most():
    unit = OrganizationUnitFactory()
    with pytest.raises(ValidationError):
        node("x", entity=EntityFactory(organization_unit=unit), organization_unit=unit)


def test_edge_update_revalidates():
    base, ent = node("base"), node("enterprise")
    e = edge(base, ent, "fixed_percent", {"percent": "30"})
    with pytest.raises(ValidationError):
        services.edge_update(edge=e, parameters={"percent": "130"})
    e = services.edge_update(edge=e, parameters={"percent": "40"})
    e.refresh_from_db()
    assert e.parameters == {"percent": "40"}


# --- runs ------------------------------------------------------------------------------


def test_run_attributes_approved_costs_along_the_graph():
    db = resource_node("database", CostNode.Kind.SHARED_SERVICE)
    web, api, mobile = node("web_app"), node("api"), node("mobile")
    for child in (web, api, mobile):
        edge(db, child)
    approved_cost("300.00", resource=db.resource, category_slug="database")
    approved_cost("999.00", resource=db.resource, status=Cost.Status.PENDING)
    approved_cost("999.00", resource=db.resource, incurred_on=date(2025, 4, 1))

    run = services.allocation_run(**MARCH)

    assert run.status == AllocationRun.Status.SUCCEEDED
    assert [holistic(run, n) for n in (web, api, mobile)] == [Decimal("100.00")] * 3
    assert run.raw_total == Decimal("300.00")
    assert run.allocated_total == Decimal("300.00")
    assert run.unallocated_total == 0
    assert run.coverage == 1
    assert run.invariants["violations"] == []
    assert AllocationFlow.objects.filter(run=run, dimension="database").count() == 3
    ledger = LedgerEntry.objects.filter(run=run)
    assert sum(x.debit for x in ledger) == sum(x.credit for x in ledger) == Decimal("600.00")


def test_run_counts_each_cost_once_at_the_most_specific_node():
    unit = OrganizationUnitFactory()
    team = node("team", CostNode.Kind.SHARED_SERVICE, organization_unit=unit)
    box = resource_node("box")
    box.resource.organization_unit = unit
    box.resource.save()
    approved_cost("10.00", resource=box.resource)
    approved_cost("5.00", organization_unit=unit)

    run = services.allocation_run(**MARCH)

    results = {r.node_id: r.direct for r in AllocationResult.objects.filter(run=run)}
    assert results == {box.pk: Decimal("10.00"), team.pk: Decimal("5.00")}
    assert run.raw_total == Decimal("15.00")
    assert run.unallocated_total == Decimal("15.00")
    assert run.coverage == 0


def test_example_3_proportional_on_cpu_hours_from_the_database():
    k8s = resource_node("kubernetes", CostNode.Kind.PLATFORM)
    web, api = node("web_app"), node("api")
    for child in (web, api):
        edge(k8s, child, "proportional", {"metric": "cpu_hours"})
    usage(web, "cpu_hours", 1000)
    usage(api, "cpu_hours", 4000)
    approved_cost("500.00", resource=k8s.resource)

    run = services.allocation_run(**MARCH)

    assert holistic(run, web) == Decimal("100.00")
    assert holistic(run, api) == Decimal("400.00")


def test_rerunning_unchanged_inputs_returns_the_same_run():
    compute, web = resource_node("compute"), node("web_app")
    edge(compute, web)
    approved_cost("100.00", resource=compute.resource)

    first = services.allocation_run(**MARCH)
    again = services.allocation_run(**MARCH)
    assert again.pk == first.pk
    assert AllocationRun.objects.count() == 1
    assert AllocationResult.objects.filter(run=first).count() == 2

    approved_cost("1.00", resource=compute.resource)
    changed = services.allocation_run(**MARCH)
    assert changed.pk != first.pk
    assert holistic(changed, web) == Decimal("101.00")


def test_edges_outside_the_period_do_not_count():
    compute, old, new = resource_node("compute"), node("old"), node("new")
    edge(compute, old, active_to=date(2025, 2, 28))
    edge(compute, new, active_from=date(2025, 3, 1))
    approved_cost("100.00", resource=compute.resource)

    run = services.allocation_run(**MARCH)
    assert holistic(run, new) == Decimal("100.00")
    assert holistic(run, old) == 0


def test_loss_is_carried_forward_into_the_next_period():
    shared = resource_node("shared", CostNode.Kind.SHARED_SERVICE)
    idle = node("idle")
    edge(shared, idle)
    usage(idle, "requests", 0, day=date(2025, 2, 10))  # tracked, but no use in March
    usage(idle, "requests", 5, day=date(2025, 4, 10))
    approved_cost("50.00", resource=shared.resource)

    march = services.allocation_run(**MARCH)
    assert march.carried_forward_total == Decimal("50.00")
    assert march.allocated_total == 0
    assert march.unallocated_total == Decimal("50.00")
    assert LedgerEntry.objects.filter(run=march, kind="loss_forward").count() == 2

    april = services.allocation_run(period_start=date(2025, 4, 1), period_end=date(2025, 4, 30))
    assert april.invariants["carried_in"] == "50.00"
    assert holistic(april, idle) == Decimal("50.00")
    assert april.coverage == 1


def test_a_period_ending_before_it_starts_is_refused():
    with pytest.raises(ValidationError):
        services.allocation_run(period_start=date(2025, 3, 2), period_end=date(2025, 3, 1))


def test_run_request_queues_the_task_that_computes_the_run(django_capture_on_commit_callbacks):
    compute, web = resource_node("compute"), node("web_app")
    edge(compute, web)
    approved_cost("100.00", resource=compute.resource)

    with django_capture_on_commit_callbacks(execute=True):
        run, queued = services.allocation_run_request(**MARCH)
    assert queued
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.SUCCEEDED
    assert holistic(run, web) == Decimal("100.00")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        same, queued = services.allocation_run_request(**MARCH)
    assert (same.pk, queued, callbacks) == (run.pk, False, [])
