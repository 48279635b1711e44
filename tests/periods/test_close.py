"""Closing a period: generate, wait for pending (or list it), allocate, freeze, notify —
and a close that died half-way finishes on the next run with nothing done twice."""

from datetime import date
from decimal import Decimal
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.db.models import Sum
from django.test import override_settings

from allocation.models import AllocationRun, LedgerEntry
from costs import services
from costs.models import Cost
from costs.period_models import AccountingPeriod
from costs.periods import (
    label_for,
    period_bounds,
    period_close,
    period_close_previous,
    period_create,
)
from costs.recurring import recurring_costs_generate
from costs.tasks import close_period
from costtrack.core.exceptions import Conflict, PermissionDenied
from notifications.models import Notification
from tests.allocation.factories import edge, node

from .factories import recurring, seed_items


def _approve_all(user):
    for cost in Cost.objects.filter(status=Cost.Status.PENDING):
        services.cost_approve(cost=cost, acting_user=user)


def _ledger_balance(run_id):
    sums = LedgerEntry.objects.filter(run_id=run_id).aggregate(d=Sum("debit"), c=Sum("credit"))
    return sums["d"], sums["c"]


@pytest.fixture
def graph(org):
    """The platform unit's cost flows equally to two products (both always active)."""
    platform = node("platform", "platform", organization_unit=org.platform)
    web, app = node("web"), node("app")
    edge(platform, web)
    edge(platform, app)
    return platform


def test_period_dates_follow_the_start_day_setting():
    assert period_bounds("2025-02") == (date(2025, 2, 1), date(2025, 2, 28))
    with override_settings(ACCOUNTING_PERIOD_START_DAY=15):
        assert period_bounds("2025-02") == (date(2025, 2, 15), date(2025, 3, 14))
        assert label_for(date(2025, 3, 14)) == "2025-02"
        assert label_for(date(2025, 3, 15)) == "2025-03"


def test_close_waits_for_pending_costs_and_lists_them(org, eur_rates):
    seed_items(acting_user=org.fin, organization_unit=org.platform)
    period = period_create(label="2025-03")

    with pytest.raises(Conflict) as exc:
        period_close(period=period, acting_user=org.fin)

    assert exc.value.code == "pending_costs"
    assert "The period 2025-03 still has 5 pending cost(s)" in exc.value.message
    pending_ids = sorted(p["id"] for p in exc.value.extra["pending"])
    march = Cost.objects.filter(incurred_on__month=3)
    assert pending_ids == sorted(march.values_list("id", flat=True))
    assert f"#{pending_ids[0]}" in exc.value.message
    period.refresh_from_db()
    assert period.status == AccountingPeriod.Status.OPEN


def test_close_with_pending_allowed_lists_what_was_pending(org, eur_rates):
    seed_items(acting_user=org.fin, organization_unit=org.platform)
    period = period_create(label="2025-03")

    with override_settings(COSTS_CLOSE_WITH_PENDING=True):
        period = period_close(period=period, acting_user=org.fin)

    assert period.status == AccountingPeriod.Status.CLOSED
    assert len(period.pending_at_close) == 5
    assert period.totals["by_status"]["pending"]["count"] == 5
    assert period.closed_by == org.fin


def test_full_close_generates_allocates_freezes_and_notifies_finance(org, graph):
    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD", amount="90.00")
    period = period_create(label="2025-03")
    recurring_costs_generate(until=date(2025, 3, 31))
    _approve_all(org.eng_owner)

    period = period_close(period=period, acting_user=org.fin)

    assert period.status == AccountingPeriod.Status.CLOSED
    assert period.totals["approved"] == "90.00"
    assert period.totals["pending"] == "0.00"
    allocation = period.totals["steps"]["allocation"]
    run = AllocationRun.objects.get()
    assert allocation["run_id"] == run.pk
    assert allocation["raw_total"] == "90.00"
    assert allocation["allocated_total"] == "90.00"
    assert _ledger_balance(run.pk)[0] == _ledger_balance(run.pk)[1] > 0
    closed = Notification.objects.filter(kind="period_closed")
    assert list(closed.values_list("recipient__username", flat=True)) == ["fin"]
    assert "2025-03" in closed.get().subject


def test_close_killed_after_allocation_finishes_on_the_next_run(org, graph):
    seed = recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    period = period_create(label="2025-03")
    recurring_costs_generate(until=date(2025, 3, 31))
    _approve_all(org.eng_owner)

    # the task fails (eagerly, Celery asks for a retry): the worker "died" before locking
    killed = mock.patch(
        "costs.periods.services._close_freeze", side_effect=RuntimeError("worker killed")
    )
    with killed, pytest.raises(Retry, match="worker killed"):
        close_period.apply(args=[period.pk, org.fin.pk], throw=True)

    period.refresh_from_db()
    assert period.status == AccountingPeriod.Status.CLOSING
    assert AllocationRun.objects.count() == 1
    ledger_rows = LedgerEntry.objects.count()
    balance = _ledger_balance(AllocationRun.objects.get().pk)

    result = close_period.apply(args=[period.pk, org.fin.pk], throw=True).get()

    assert result == {"period": "2025-03", "status": "closed"}
    period.refresh_from_db()
    assert period.status == AccountingPeriod.Status.CLOSED
    run = AllocationRun.objects.get()
    assert LedgerEntry.objects.count() == ledger_rows
    debit, credit = _ledger_balance(run.pk)
    assert debit == credit > 0
    assert (debit, credit) == balance
    assert Cost.objects.filter(source=Cost.Source.RECURRING).count() == 3
    assert seed.occurrences.count() == 3
    assert Notification.objects.filter(kind="period_closed").count() == 1

    again = period_close(period=period, acting_user=org.fin)
    assert again.status == AccountingPeriod.Status.CLOSED
    assert AllocationRun.objects.count() == 1
    assert Notification.objects.filter(kind="period_closed").count() == 1


def test_close_reuses_an_earlier_run_of_the_period_after_a_kill_at_the_freeze(org, graph):
    """A run of the period made before the close (same inputs) is the close's run, and a
    close killed after recording its steps finishes with that one run."""
    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    period = period_create(label="2025-03")
    recurring_costs_generate(until=date(2025, 3, 31))
    _approve_all(org.eng_owner)
    from allocation.services import allocation_run

    earlier = allocation_run(period_start=period.start, period_end=period.end)
    killed = mock.patch("costs.periods.services._close_freeze", side_effect=RuntimeError("killed"))
    with killed, pytest.raises(RuntimeError):
        period_close(period=period, acting_user=org.fin)
    period.refresh_from_db()
    assert period.close_steps["steps"]["allocation"]["run_id"] == earlier.pk

    period = period_close(period=period, acting_user=org.fin)

    assert period.status == AccountingPeriod.Status.CLOSED
    assert list(AllocationRun.objects.values_list("pk", flat=True)) == [earlier.pk]
    assert period.totals["steps"]["allocation"]["run_id"] == earlier.pk


def _killed_after(step_name: str, monkeypatch):
    """Make the close step ``step_name`` do its work and then die, before it is recorded."""
    from costs import extensions

    real = extensions._period_close_steps[step_name]

    def dies(*, period, acting_user):
        real(period=period, acting_user=acting_user)
        raise RuntimeError("worker killed")

    monkeypatch.setitem(extensions._period_close_steps, step_name, dies)
    return lambda: monkeypatch.setitem(extensions._period_close_steps, step_name, real)


def test_close_killed_during_the_allocation_step_runs_it_once_on_the_rerun(org, graph, monkeypatch):
    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    period = period_create(label="2025-03")
    recurring_costs_generate(until=date(2025, 3, 31))
    _approve_all(org.eng_owner)
    revive = _killed_after("allocation", monkeypatch)

    with pytest.raises(Retry, match="worker killed"):
        close_period.apply(args=[period.pk, org.fin.pk], throw=True)

    period.refresh_from_db()
    assert period.status == AccountingPeriod.Status.CLOSING
    assert "steps" not in period.close_steps
    assert AllocationRun.objects.count() == 0  # the step's transaction died with it
    revive()

    result = close_period.apply(args=[period.pk, org.fin.pk], throw=True).get()

    assert result == {"period": "2025-03", "status": "closed"}
    run = AllocationRun.objects.get()
    period.refresh_from_db()
    assert period.totals["steps"]["allocation"]["run_id"] == run.pk
    assert period.totals["steps"]["allocation"]["raw_total"] == period.totals["approved"]
    debit, credit = _ledger_balance(run.pk)
    assert debit == credit > 0
    assert Notification.objects.filter(kind="period_closed").count() == 1


def test_a_resumed_close_books_what_fell_due_before_it_allocates(org, graph, monkeypatch):
    """An item added while the period is closing is booked by the rerun of the close, in
    time for the allocation, and by nothing else."""
    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    period = period_create(label="2025-03")
    recurring_costs_generate(until=date(2025, 3, 31))
    _approve_all(org.eng_owner)
    revive = _killed_after("allocation", monkeypatch)
    with pytest.raises(RuntimeError, match="worker killed"):
        period_close(period=period, acting_user=org.fin)
    late = recurring(
        acting_user=org.fin,
        organization_unit=org.platform,
        currency="USD",
        name="Late licence",
        amount="5.00",
        cadence="one_time",
        start_date=date(2025, 3, 20),
    )
    assert recurring_costs_generate(until=date(2025, 3, 31)).skipped_closed == 1
    revive()

    period = period_close(period=period, acting_user=org.fin, allow_pending=True)

    assert period.status == AccountingPeriod.Status.CLOSED
    booked = Cost.objects.get(recurring_occurrence__recurring_cost=late)
    assert (booked.incurred_on, booked.status) == (date(2025, 3, 20), Cost.Status.PENDING)
    assert [p["id"] for p in period.pending_at_close] == [booked.pk]
    assert period.close_steps["generate"]["created"] == 1
    assert AllocationRun.objects.count() == 1


def test_nothing_is_generated_once_the_steps_are_recorded(org, graph):
    """A close killed after recording its allocation generates nothing on the rerun: the
    frozen totals are the totals the allocation saw."""
    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    period = period_create(label="2025-03")
    recurring_costs_generate(until=date(2025, 3, 31))
    _approve_all(org.eng_owner)
    killed = mock.patch("costs.periods.services._close_freeze", side_effect=RuntimeError("killed"))
    with killed, pytest.raises(RuntimeError):
        period_close(period=period, acting_user=org.fin)
    late = recurring(
        acting_user=org.fin,
        organization_unit=org.platform,
        currency="USD",
        name="Late licence",
        cadence="one_time",
        start_date=date(2025, 3, 20),
    )
    with pytest.raises(Conflict, match="The period 2025-03 is closing"):
        services.cost_create(
            submitted_by=org.fin,
            amount=Decimal("5.00"),
            currency="USD",
            incurred_on=date(2025, 3, 20),
            organization_unit=org.platform,
        )

    period = period_close(period=period, acting_user=org.fin)

    assert period.status == AccountingPeriod.Status.CLOSED
    assert not late.occurrences.exists()
    assert period.totals["approved"] == period.totals["steps"]["allocation"]["raw_total"]
    assert period.totals["cost_count"] == Cost.objects.filter(incurred_on__month=3).count()
    assert AllocationRun.objects.count() == 1


def test_loss_is_carried_forward_into_the_next_period(org):
    """A product that is inactive in February passes its cost on to March's run."""
    platform = node("platform", "platform", organization_unit=org.platform)
    from tests.allocation.factories import usage

    web = node("web")
    edge(platform, web)
    usage(web, "requests", 0, day=date(2025, 2, 10))
    usage(web, "requests", 5, day=date(2025, 3, 10))
    recurring(
        acting_user=org.fin,
        organization_unit=org.platform,
        currency="USD",
        start_date=date(2025, 2, 1),
        end_date=date(2025, 2, 28),
    )
    recurring_costs_generate(until=date(2025, 2, 28))
    _approve_all(org.eng_owner)

    february = period_close(period=period_create(label="2025-02"), acting_user=org.fin)
    march = period_close(period=period_create(label="2025-03"), acting_user=org.fin)

    assert Decimal(february.totals["steps"]["allocation"]["carried_forward_total"]) == Decimal(
        "10.00"
    )
    march_run = AllocationRun.objects.get(pk=march.totals["steps"]["allocation"]["run_id"])
    assert march_run.invariants["carried_in"] == "10.00"


def test_only_finance_closes(org):
    period = period_create(label="2025-03")
    with pytest.raises(PermissionDenied):
        period_close(period=period, acting_user=org.member)
    with pytest.raises(PermissionDenied):
        period_create(label="2025-04", acting_user=org.member)


def test_period_create_refuses_duplicates_and_bad_labels(org):
    period_create(label="2025-03")
    with pytest.raises(Conflict, match="already exists"):
        period_create(label="2025-03")
    from costtrack.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        period_create(label="2025-13")
    assert exc.value.field == "period"


def test_beat_closes_last_month_from_the_close_day_on(org):
    with override_settings(COSTS_PERIOD_CLOSE_DAY=3):
        assert period_close_previous(today=date(2025, 4, 2)) is None
        assert not AccountingPeriod.objects.exists()
        period = period_close_previous(today=date(2025, 4, 3))
    assert (period.label, period.status) == ("2025-03", AccountingPeriod.Status.CLOSED)


def test_beat_leaves_the_period_open_while_costs_are_pending(org):
    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    period = period_close_previous(today=date(2025, 4, 5))
    assert (period.label, period.status) == ("2025-03", AccountingPeriod.Status.OPEN)
    assert Cost.objects.filter(incurred_on=date(2025, 3, 1), status="pending").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_closes_close_once(org, graph):
    import threading

    from django.db import connection

    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    period = period_create(label="2025-03")
    recurring_costs_generate(until=date(2025, 3, 31))
    _approve_all(org.eng_owner)
    barrier = threading.Barrier(4)
    statuses, failures = [], []

    def close():
        try:
            barrier.wait(timeout=30)
            statuses.append(period_close(period=period, acting_user=org.fin).status)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert failures == []
    assert statuses == ["closed"] * 4
    assert AllocationRun.objects.count() == 1
    assert Notification.objects.filter(kind="period_closed").count() == 1
    assert Cost.objects.count() == 3


def test_a_failing_close_step_leaves_the_period_closing_until_it_succeeds(org, monkeypatch):
    from costs import extensions

    calls = []

    def flaky(*, period, acting_user):
        calls.append(period.label)
        if len(calls) == 1:
            raise Conflict("The allocation of the period 2025-03 failed: cycle", code="x")
        return {"ok": True}

    monkeypatch.setitem(extensions._period_close_steps, "flaky", flaky)
    period = period_create(label="2025-03")

    with pytest.raises(Conflict, match="failed: cycle"):
        period_close(period=period, acting_user=org.fin)
    period.refresh_from_db()
    assert period.status == AccountingPeriod.Status.CLOSING

    period = period_close(period=period, acting_user=org.fin)

    assert period.status == AccountingPeriod.Status.CLOSED
    assert period.totals["steps"]["flaky"] == {"ok": True}
    assert calls == ["2025-03", "2025-03"]


def test_a_period_that_has_not_ended_cannot_close(org):
    from django.utils import timezone

    period = period_create(label=label_for(timezone.localdate()))

    with pytest.raises(Conflict, match=f"The period {period.label} has not ended yet"):
        period_close(period=period, acting_user=org.fin)
    assert AccountingPeriod.objects.get().status == AccountingPeriod.Status.OPEN
