"""Graph validation, runs loading approved costs, idempotency, the ledger and the task."""

from datetime import date, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import IntegrityError, OperationalError
from django.utils import timezone

from allocation import engine, services
from allocation.models import (
    AllocationEdge,
    AllocationFlow,
    AllocationResult,
    AllocationRun,
    CostNode,
    LedgerEntry,
    UsageRecord,
)
from allocation.tasks import MAX_RETRIES, run_allocation
from costs.models import Cost
from costtrack.core.exceptions import ValidationError
from costtrack.core.models import Job, JobState
from tests.orgunits.factories import EntityFactory, OrganizationUnitFactory, ResourceFactory

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
    rows = AllocationResult.objects.count()

    # Unchanged inputs: the next run finishes as a copy of the first, with no new rows.
    with django_capture_on_commit_callbacks(execute=True):
        again, queued = services.allocation_run_request(**MARCH)
    assert queued and again.pk != run.pk
    again.refresh_from_db()
    assert again.status == AllocationRun.Status.SUCCEEDED
    assert again.same_as_id == run.pk
    assert (again.raw_total, again.input_fingerprint) == (run.raw_total, run.input_fingerprint)
    assert AllocationResult.objects.count() == rows

    approved_cost("1.00", resource=compute.resource)
    with django_capture_on_commit_callbacks(execute=True):
        changed, _ = services.allocation_run_request(**MARCH)
    changed.refresh_from_db()
    assert changed.same_as_id is None
    assert holistic(changed, web) == Decimal("101.00")


def test_run_request_loads_nothing_and_returns_the_pending_run(
    django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    compute, web = resource_node("compute"), node("web_app")
    edge(compute, web)
    with mock.patch("allocation.services.runs.load_period", side_effect=AssertionError("loaded")):
        # 9: the eight of the run request and the insert of its job
        with django_assert_max_num_queries(9), django_capture_on_commit_callbacks() as hints:
            first, queued = services.allocation_run_request(**MARCH)
        assert queued and first.status == AllocationRun.Status.PENDING
        with django_capture_on_commit_callbacks() as more_hints:
            second, queued_again = services.allocation_run_request(**MARCH)
    assert (second.pk, queued_again) == (first.pk, False)
    assert AllocationRun.objects.count() == 1
    (job,) = Job.objects.all()
    assert (job.task, job.args, job.key) == (
        "allocation.run_allocation",
        [first.pk],
        services.run_job_key(first.pk),
    )
    assert job.state == JobState.PENDING
    assert (len(hints), more_hints) == (1, [])  # the second request hands nothing over


def _dead_job(run, **changes):
    return Job.objects.create(
        task="allocation.run_allocation",
        args=[run.pk],
        key=services.run_job_key(run.pk),
        state=JobState.RUNNING,
        worker="gone-host:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        **changes,
    )


def test_a_run_whose_worker_died_is_handed_over_again_when_its_period_is_asked_for(
    django_capture_on_commit_callbacks,
):
    compute, web = resource_node("compute"), node("web_app")
    edge(compute, web)
    approved_cost("40.00", resource=compute.resource)
    stuck = AllocationRun.objects.create(**MARCH, currency="USD")
    job = _dead_job(stuck)
    with django_capture_on_commit_callbacks(execute=True):
        run, queued = services.allocation_run_request(**MARCH)
    assert (run.pk, queued) == (stuck.pk, False)
    job.refresh_from_db()
    assert (job.state, job.dispatches) == (JobState.DONE, 1)
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.SUCCEEDED
    assert holistic(run, web) == Decimal("40.00")
    assert Job.objects.count() == 1


def test_a_run_held_by_a_live_worker_is_left_to_it(django_capture_on_commit_callbacks):
    running = AllocationRun.objects.create(**MARCH, currency="USD")
    job = _dead_job(running, dispatches=1)
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() + timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True) as hints:
        run, queued = services.allocation_run_request(**MARCH)
    assert (run.pk, queued, hints) == (running.pk, False, [])
    job.refresh_from_db()
    assert (job.state, job.dispatches) == (JobState.RUNNING, 1)


def test_the_reaper_gives_a_job_to_a_pending_run_that_has_none(django_capture_on_commit_callbacks):
    orphan = AllocationRun.objects.create(**MARCH, currency="USD")
    Job.objects.create(
        task="allocation.run_allocation",
        args=[orphan.pk],
        key=services.run_job_key(orphan.pk),
        state=JobState.FAILED,
    )
    april = {"period_start": date(2025, 4, 1), "period_end": date(2025, 4, 30)}
    fresh = AllocationRun.objects.create(**april, currency="USD")
    AllocationRun.objects.filter(pk=orphan.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.allocation_runs_reap() == 1
    orphan.refresh_from_db()
    fresh.refresh_from_db()
    assert orphan.status == AllocationRun.Status.SUCCEEDED
    assert fresh.status == AllocationRun.Status.PENDING  # younger than a lease: left alone
    with django_capture_on_commit_callbacks(execute=True):
        assert services.allocation_runs_reap() == 0


def test_an_unexpected_error_fails_the_run_with_the_message():
    run = AllocationRun.objects.create(**MARCH, currency="USD")
    with mock.patch(
        "allocation.services.runs.load_period", side_effect=ValueError("usage table is odd")
    ):
        status = run_allocation.apply(args=[run.pk]).get()
    assert status == "failed"
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.FAILED
    assert run.error == "The run stopped on an unexpected error: ValueError: usage table is odd"
    assert run.finished_at is not None
    assert AllocationResult.objects.filter(run=run).count() == 0


def test_a_graph_the_engine_refuses_fails_the_queued_run():
    run = AllocationRun.objects.create(**MARCH, currency="USD")
    with mock.patch(
        "allocation.services.runs.engine.allocate",
        side_effect=engine.CycleError([1, 2, 1], {1: "a", 2: "b"}),
    ):
        assert run_allocation.apply(args=[run.pk]).get() == "failed"
    run.refresh_from_db()
    assert "a → b → a" in run.error


@pytest.fixture
def eager_retries(monkeypatch):
    """Eager tasks retry in place (as a worker would, without the wait) instead of raising
    ``Retry`` at the first retry."""
    monkeypatch.setitem(run_allocation.app.conf, "task_eager_propagates", False)


def test_database_errors_are_retried_then_fail_the_run(eager_retries):
    run = AllocationRun.objects.create(**MARCH, currency="USD")
    with mock.patch(
        "allocation.tasks.services.allocation_run_execute",
        side_effect=OperationalError("server closed the connection"),
    ) as execute:
        result = run_allocation.apply(args=[run.pk], throw=False)
    assert result.get() == "failed"
    assert execute.call_count == MAX_RETRIES + 1
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.FAILED
    assert run.error == (
        f"The database failed {MAX_RETRIES + 1} times in a row: "
        "OperationalError: server closed the connection"
    )


def test_a_database_error_that_passes_lets_the_retry_compute_the_run(eager_retries):
    compute, web = resource_node("compute"), node("web_app")
    edge(compute, web)
    approved_cost("100.00", resource=compute.resource)
    run = AllocationRun.objects.create(**MARCH, currency="USD")
    real = services.allocation_run_execute
    calls = []

    def flaky(*, run_id):
        calls.append(run_id)
        if len(calls) == 1:
            raise OperationalError("deadlock detected")
        return real(run_id=run_id)

    with mock.patch("allocation.tasks.services.allocation_run_execute", side_effect=flaky):
        assert run_allocation.apply(args=[run.pk], throw=False).get() == "succeeded"
    assert calls == [run.pk, run.pk]
    run.refresh_from_db()
    assert run.status == AllocationRun.Status.SUCCEEDED
    assert holistic(run, web) == Decimal("100.00")


def test_a_finished_run_is_not_failed_afterwards():
    compute, web = resource_node("compute"), node("web_app")
    edge(compute, web)
    run = services.allocation_run(**MARCH)
    services.allocation_run_fail(run_id=run.pk, error="late")
    run.refresh_from_db()
    assert (run.status, run.error) == (AllocationRun.Status.SUCCEEDED, "")


def test_loss_carried_forward_is_read_from_the_run_a_reused_run_points_at(
    django_capture_on_commit_callbacks,
):
    shared = resource_node("shared", CostNode.Kind.SHARED_SERVICE)
    idle = node("idle")
    edge(shared, idle)
    usage(idle, "requests", 0, day=date(2025, 2, 10))
    usage(idle, "requests", 5, day=date(2025, 4, 10))
    approved_cost("50.00", resource=shared.resource)
    first = services.allocation_run(**MARCH)
    with django_capture_on_commit_callbacks(execute=True):
        reused, _ = services.allocation_run_request(**MARCH)
    reused.refresh_from_db()
    assert reused.same_as_id == first.pk

    april = services.allocation_run(period_start=date(2025, 4, 1), period_end=date(2025, 4, 30))
    assert april.invariants["carried_in"] == "50.00"
    assert holistic(april, idle) == Decimal("50.00")


# --- one node per linked object ----------------------------------------------------------


@pytest.mark.parametrize("field", ["resource", "entity", "organization_unit"])
def test_a_second_node_on_the_same_link_is_refused(field):
    target = {
        "resource": ResourceFactory,
        "entity": EntityFactory,
        "organization_unit": OrganizationUnitFactory,
    }[field]()
    node("first", CostNode.Kind.SHARED_SERVICE, **{field: target})
    with pytest.raises(ValidationError) as excinfo:
        node("second", **{field: target})
    assert excinfo.value.field == field
    assert "'first' already links this" in excinfo.value.message
    assert list(CostNode.objects.values_list("name", flat=True)) == ["first"]

    other = node("other")
    with pytest.raises(ValidationError) as excinfo:
        services.node_update(node=other, **{field: target})
    assert excinfo.value.field == field
    assert CostNode.objects.filter(**{field: target}).count() == 1
    # the node itself may be saved again with its own link
    first = CostNode.objects.get(name="first")
    services.node_update(node=first, description="still mine", **{field: target})


def test_the_database_refuses_a_shared_link_too():
    resource = ResourceFactory()
    node("first", resource=resource)
    with pytest.raises(IntegrityError):
        CostNode.objects.create(name="second", kind="product", resource=resource)


# --- fixed shares count among edges active on the same day -------------------------------


def test_fixed_shares_of_edges_active_on_the_same_day_are_refused():
    base, old, new = node("base"), node("old_plan"), node("new_plan")
    edge(base, old, "fixed_percent", {"percent": "60"}, active_to=date(2025, 4, 15))
    with pytest.raises(ValidationError) as excinfo:
        edge(base, new, "fixed_percent", {"percent": "60"}, active_from=date(2025, 4, 15))
    assert excinfo.value.field == "parameters"
    assert "'old_plan' 60 %" in excinfo.value.message
    assert "'new_plan' 60 %" in excinfo.value.message
    assert not base.out_edges.filter(child=new).exists()


def test_fixed_shares_of_edges_never_active_together_are_accepted():
    base, old, new = node("base"), node("old_plan"), node("new_plan")
    edge(base, old, "fixed_percent", {"percent": "60"}, active_to=date(2025, 4, 15))
    edge(base, new, "fixed_percent", {"percent": "60"}, active_from=date(2025, 4, 16))
    assert base.out_edges.count() == 2


def test_fixed_shares_are_summed_per_day_not_per_overlap():
    base, h1, h2, year, extra = (node(n) for n in ("base", "h1", "h2", "year", "extra"))
    edge(base, h1, "fixed_percent", {"percent": "50"}, active_to=date(2025, 6, 30))
    edge(base, h2, "fixed_percent", {"percent": "50"}, active_from=date(2025, 7, 1))
    # overlaps both halves, but never more than 100 % on one day
    edge(base, year, "fixed_percent", {"percent": "50"})
    with pytest.raises(ValidationError) as excinfo:
        edge(
            base,
            extra,
            "fixed_percent",
            {"percent": "10"},
            active_from=date(2025, 6, 1),
            active_to=date(2025, 6, 30),
        )
    message = excinfo.value.message
    assert "110 %" in message and "'h1' 50 %" in message and "'h2'" not in message


def test_edge_update_moving_a_window_onto_another_is_refused():
    base, old, new = node("base"), node("old_plan"), node("new_plan")
    edge(base, old, "fixed_percent", {"percent": "60"}, active_to=date(2025, 4, 15))
    moving = edge(base, new, "fixed_percent", {"percent": "60"}, active_from=date(2025, 4, 16))
    with pytest.raises(ValidationError):
        services.edge_update(edge=moving, active_from=date(2025, 4, 1))
    moving.refresh_from_db()
    assert moving.active_from == date(2025, 4, 16)


def test_a_month_spanning_two_fixed_edges_passes_each_its_days_share():
    base = resource_node("base", CostNode.Kind.PRODUCT)
    old, new = node("old_plan"), node("new_plan")
    edge(base, old, "fixed_percent", {"percent": "60"}, active_to=date(2025, 4, 15))
    edge(base, new, "fixed_percent", {"percent": "60"}, active_from=date(2025, 4, 16))
    approved_cost("100.00", resource=base.resource, incurred_on=date(2025, 4, 10))

    run = services.allocation_run(period_start=date(2025, 4, 1), period_end=date(2025, 4, 30))

    # 60 % for 15 of 30 days each: 30 % each, the base keeps the other 40 %
    assert run.status == AllocationRun.Status.SUCCEEDED, run.error
    assert holistic(run, old) == Decimal("30.00")
    assert holistic(run, new) == Decimal("30.00")
    assert AllocationResult.objects.get(run=run, node=base).retained == Decimal("40.00")


def test_only_finance_changes_the_graph_its_usage_and_runs():
    from django.contrib.auth.models import Group

    from costtrack.core.exceptions import PermissionDenied
    from tests.orgunits.factories import UserFactory, auditor_user, finance_user

    fin = finance_user(username="fin-graph")
    auditor = auditor_user(username="aud-graph")
    auditor.groups.add(Group.objects.get(name="finance"))  # auditor wins
    member = UserFactory(username="member-graph")
    a = services.node_create(name="db", kind="shared_service", acting_user=fin)
    b = services.node_create(name="app", kind="product", acting_user=fin)
    link = services.edge_create(parent=a, child=b, strategy="equal", acting_user=fin)
    record = services.usage_record_create(
        node=b,
        metric="cpu_hours",
        date=MARCH["period_start"],
        quantity=Decimal("1"),
        acting_user=fin,
    )
    before = (CostNode.objects.count(), AllocationEdge.objects.count(), UsageRecord.objects.count())
    for user in (auditor, member):
        user = type(user).objects.get(pk=user.pk)  # no cached roles
        attempts = [
            lambda u=user: services.node_create(name="x", kind="product", acting_user=u),
            lambda u=user: services.node_update(node=a, name="renamed", acting_user=u),
            lambda u=user: services.node_delete(node=b, acting_user=u),
            lambda u=user: services.edge_delete(edge=link, acting_user=u),
            lambda u=user: services.usage_record_update(
                record=record, quantity=Decimal("9"), acting_user=u
            ),
            lambda u=user: services.usage_record_delete(record=record, acting_user=u),
            lambda u=user: services.allocation_run(**MARCH, acting_user=u),
        ]
        for attempt in attempts:
            with pytest.raises(PermissionDenied):
                attempt()
    after = (CostNode.objects.count(), AllocationEdge.objects.count(), UsageRecord.objects.count())
    assert after == before
    assert CostNode.objects.get(pk=a.pk).name == "db"
    assert AllocationRun.objects.count() == 0
