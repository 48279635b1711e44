"""Writes of accounting periods: create, calculate, and the close pipeline (see the package
docstring for its steps)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from costtrack.core.exceptions import Conflict, PermissionDenied
from costtrack.core.roles import FINANCE, is_finance

from .. import extensions
from ..period_models import AccountingPeriod, PeriodStatus
from .dates import label_for, period_bounds
from .guard import close_changes
from .selectors import period_get, period_pending, period_totals

logger = logging.getLogger(__name__)

PENDING_LISTED = 20

Progress = Callable[[int, int], None] | None


def _check_finance(acting_user) -> None:
    if acting_user is not None and not is_finance(acting_user):
        raise PermissionDenied("Only finance staff may manage accounting periods.")


@transaction.atomic
def period_create(*, label: str, acting_user=None) -> AccountingPeriod:
    """Create the open period ``label`` (YYYY-MM). ``Conflict`` if it (or an overlap) exists."""
    _check_finance(acting_user)
    first, last = period_bounds(label)
    if AccountingPeriod.objects.filter(label=label).exists():
        raise Conflict(f"The period {label} already exists.", code="period_exists")
    overlap = AccountingPeriod.objects.filter(start__lte=last, end__gte=first).first()
    if overlap is not None:
        raise Conflict(
            f"The period {label} ({first}–{last}) overlaps the period {overlap.label}.",
            code="period_overlap",
        )
    period = AccountingPeriod(label=label, start=first, end=last)
    period.full_clean()
    try:
        with transaction.atomic():
            period.save()
    except IntegrityError:
        raise Conflict(f"The period {label} already exists.", code="period_exists") from None
    return period


def period_get_or_create(
    *, label: str, acting_user=None, check: Callable[[AccountingPeriod], None] | None = None
) -> AccountingPeriod:
    """The period ``label``, created open when missing (safe against a concurrent create).

    ``PermissionDenied`` (nothing written) when it is missing and ``acting_user`` is not
    finance; ``Conflict`` when it would overlap another period. ``check`` is given the
    missing period unsaved before it is created, so that what it raises writes nothing.
    """
    existing = AccountingPeriod.objects.filter(label=label).first()
    if existing is not None:
        return existing
    if check is not None:
        first, last = period_bounds(label)
        check(AccountingPeriod(label=label, start=first, end=last))
    try:
        return period_create(label=label, acting_user=acting_user)
    except Conflict as exc:
        if exc.code != "period_exists":
            raise
        return period_get(label=label)


@dataclass
class Calculation:
    period: AccountingPeriod
    generated: int
    errors: list[str]
    totals: dict


def period_calculate(
    *, period: AccountingPeriod, acting_user=None, progress: Progress = None
) -> Calculation:
    """Generate the recurring costs due in the period, then compute its live totals.

    A closed period generates nothing and answers its frozen totals; a closing one generates
    nothing (its close does) and answers its live totals.
    """
    from ..recurring import recurring_costs_generate

    _check_finance(acting_user)
    period = AccountingPeriod.objects.get(pk=period.pk)
    if period.status == PeriodStatus.CLOSED:
        return Calculation(period=period, generated=0, errors=[], totals=period.totals)
    if period.status == PeriodStatus.CLOSING:
        return Calculation(period=period, generated=0, errors=[], totals=period_totals(period))
    result = recurring_costs_generate(since=period.start, until=period.end, progress=progress)
    return Calculation(
        period=period,
        generated=result.created,
        errors=result.errors,
        totals=period_totals(period),
    )


def _pending_refusal(period: AccountingPeriod, pending: list[dict]) -> Conflict:
    listed = "; ".join(
        f"#{p['id']} {p['amount']} {p['currency']} on {p['incurred_on']}"
        + (f" ({p['description']})" if p["description"] else "")
        for p in pending[:PENDING_LISTED]
    )
    more = f" and {len(pending) - PENDING_LISTED} more" if len(pending) > PENDING_LISTED else ""
    return Conflict(
        f"The period {period.label} still has {len(pending)} pending cost(s): {listed}{more}. "
        "Approve or reject them first, or close with pending costs allowed.",
        code="pending_costs",
        extra={"pending": pending},
    )


def _close_allowed_with_pending(allow_pending: bool | None) -> bool:
    if allow_pending is None:
        return bool(getattr(settings, "COSTS_CLOSE_WITH_PENDING", False))
    return allow_pending


def _locked(period: AccountingPeriod) -> AccountingPeriod:
    return AccountingPeriod.objects.select_for_update().get(pk=period.pk)


def _close_generate(period: AccountingPeriod, progress: Progress) -> dict:
    """Book the recurring costs due in the period. Run while the period is open, this is an
    ordinary generation (a close that began meanwhile refuses it); run inside
    ``close_changes`` it may book into the period while it is closing."""
    from ..recurring import recurring_costs_generate

    result = recurring_costs_generate(since=period.start, until=period.end, progress=progress)
    return {"created": result.created, "errors": result.errors}


@transaction.atomic
def _close_begin(
    period: AccountingPeriod, generated: dict, allow_pending: bool | None
) -> AccountingPeriod:
    """Flip the period to ``closing`` unless pending costs hold it back. Checked under the
    period lock: a change waiting on the lock finds the period closing and is refused."""
    period = _locked(period)
    if period.status != PeriodStatus.OPEN:
        return period
    pending = period_pending(period)
    if pending and not _close_allowed_with_pending(allow_pending):
        raise _pending_refusal(period, pending)
    period.begin_close()
    period.closing_started_at = timezone.now()
    period.pending_at_close = pending
    period.close_steps = {**period.close_steps, "generate": generated}
    period.save(update_fields=["status", "closing_started_at", "pending_at_close", "close_steps"])
    return period


@transaction.atomic
def _close_run_steps(
    period: AccountingPeriod, acting_user, *, resumed: bool, progress: Progress
) -> AccountingPeriod:
    """Run the registered close steps not yet recorded, and record them, in one transaction
    that holds the period row.

    A close that resumes a ``closing`` period whose steps are not recorded yet first books
    what fell due since (e.g. an item added meanwhile), in this same transaction: whatever
    is generated is in the allocation, and once the steps are recorded nothing is generated
    any more. Steps are idempotent (the allocation returns its existing run for unchanged
    inputs), so a step whose work outlived a crash is simply run again."""
    period = _locked(period)
    if period.status != PeriodStatus.CLOSING:
        return period
    close_steps = dict(period.close_steps or {})
    done = dict(close_steps.get("steps") or {})
    todo = [(name, step) for name, step in extensions.period_close_steps() if name not in done]
    if "steps" in close_steps and not todo:
        return period
    if resumed:
        with close_changes(period):
            again = _close_generate(period, progress)
        before = close_steps.get("generate") or {}
        close_steps["generate"] = {
            "created": int(before.get("created", 0)) + again["created"],
            "errors": again["errors"],
        }
    for name, step in todo:
        done[name] = step(period=period, acting_user=acting_user)
    close_steps["steps"] = done
    period.close_steps = close_steps
    period.save(update_fields=["close_steps"])
    return period


def _finance_users() -> list:
    User = get_user_model()
    return list(User.objects.filter(groups__name=FINANCE, is_active=True).order_by("pk"))


def _notify_closed(period: AccountingPeriod) -> None:
    from notifications.kinds import Kind
    from notifications.services import notify_once

    totals = period.totals
    body = (
        f"The accounting period {period.label} ({period.start} – {period.end}) is closed.\n"
        f"Approved: {totals['approved']} {totals['currency']}, "
        f"pending at close: {len(period.pending_at_close)} cost(s)."
    )
    notify_once(
        key=f"period_closed:{period.pk}",
        recipients=_finance_users(),
        kind=Kind.PERIOD_CLOSED,
        subject=f"Period {period.label} closed",
        body=body,
        payload={"period": period.label, "totals": totals},
    )


@transaction.atomic
def _close_freeze(period: AccountingPeriod, acting_user) -> AccountingPeriod:
    """Store the totals, flip to closed and notify finance, all in one transaction."""
    period = _locked(period)
    if period.status != PeriodStatus.CLOSING:
        return period
    period.pending_at_close = period_pending(period)
    totals = period_totals(period)
    totals["steps"] = (period.close_steps or {}).get("steps", {})
    period.totals = totals
    period.finish_close()
    period.closed_at = timezone.now()
    period.closed_by = acting_user
    period.save(update_fields=["status", "totals", "pending_at_close", "closed_at", "closed_by"])
    _notify_closed(period)
    return period


def _check_ended(period: AccountingPeriod) -> None:
    if period.end >= timezone.localdate():
        raise Conflict(
            f"The period {period.label} has not ended yet (its last day is {period.end}).",
            code="period_not_ended",
        )


def period_close_check(
    *, period: AccountingPeriod, allow_pending: bool | None = None, acting_user=None
) -> None:
    """Raise what ``period_close`` would refuse with, without writing anything (the period
    may be unsaved: only its status and dates are read)."""
    _check_finance(acting_user)
    if period.status != PeriodStatus.CLOSED:
        _check_ended(period)
    if period.status == PeriodStatus.OPEN and not _close_allowed_with_pending(allow_pending):
        pending = period_pending(period)
        if pending:
            raise _pending_refusal(period, pending)


def period_close(
    *,
    period: AccountingPeriod,
    acting_user=None,
    allow_pending: bool | None = None,
    progress: Progress = None,
) -> AccountingPeriod:
    """Close ``period`` (the steps are in the module docstring); returns it closed.

    Safe to run again at any point: a closed period is returned as it is, a ``closing`` one
    resumes where it stopped. Raises ``Conflict`` (409) for a period that has not ended yet,
    and listing the pending costs when they must be decided first (the period stays open);
    ``PermissionDenied`` when ``acting_user``
    is not finance (``None`` is the system, e.g. the beat schedule).
    """
    _check_finance(acting_user)
    period = AccountingPeriod.objects.get(pk=period.pk)
    if period.status == PeriodStatus.CLOSED:
        return period
    _check_ended(period)
    resumed = period.status == PeriodStatus.CLOSING
    if not resumed:
        generated = _close_generate(period, progress)
        period = _close_begin(period, generated, allow_pending)
    period = _close_run_steps(period, acting_user, resumed=resumed, progress=progress)
    return _close_freeze(period, acting_user)


CLOSE_TASK = "costs.close_period"


def close_job_key(period_id: int) -> str:
    return f"{CLOSE_TASK}:{period_id}"


def period_close_enqueue(
    *, period: AccountingPeriod, acting_user=None, allow_pending: bool | None = None
):
    """Record the job that closes ``period`` on a worker (the ``costs.close_period`` task),
    in the caller's transaction; nothing more when a close of the period is already live.
    Call ``period_close_check`` first: what it refuses is better said at once."""
    from costtrack.core.jobs import job_enqueue

    _check_finance(acting_user)
    user_id = acting_user.pk if acting_user is not None else None
    return job_enqueue(
        task=CLOSE_TASK, args=[period.pk, user_id, allow_pending], key=close_job_key(period.pk)
    )


def close_day() -> int:
    """Day of a period on (or after) which the previous period is closed by the beat."""
    return max(1, int(getattr(settings, "COSTS_PERIOD_CLOSE_DAY", 3)))


def period_close_previous(*, today: date | None = None) -> AccountingPeriod | None:
    """Beat: close the period before today's once ``close_day()`` days of this one passed.

    Returns the previous period (closed, or still open when pending costs hold it back:
    the refusal is logged and the next day's beat tries again), or ``None`` when it is too
    early in the period.
    """
    today = today or timezone.localdate()
    current_start, _ = period_bounds(label_for(today))
    if today < current_start + timedelta(days=close_day() - 1):
        return None
    previous = period_get_or_create(label=label_for(current_start - timedelta(days=1)))
    try:
        return period_close(period=previous)
    except Conflict as exc:
        logger.warning("Period %s not closed: %s", previous.label, exc.message)
        return AccountingPeriod.objects.get(pk=previous.pk)
