"""Accounting periods: their dates, the close pipeline, and the closed-period guard.

A period is a month of the books labelled ``YYYY-MM`` that starts on the day
``settings.ACCOUNTING_PERIOD_START_DAY`` (1–28) of that month and ends the day before the
same day of the next month. Closing a period (``period_close``) runs these steps, each of
which may be run again after a worker died in the middle:

1. generate the recurring costs due in the period (unique occurrences: nothing twice);
2. check what is still pending: refuse (``Conflict``) unless closing with pending costs is
   allowed (``settings.COSTS_CLOSE_WITH_PENDING`` or ``allow_pending=True``); the period
   becomes ``closing`` and the pending list is kept;
3. run every step registered with ``costs.extensions.register_period_close_step`` (the
   allocation run of the period, with loss carried forward) unless already recorded;
4. store the period's totals, flip it to ``closed`` and notify finance — in one transaction.

From then on the guard registered here makes the cost services refuse creating, editing or
transitioning a cost incurred in the period (409).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from costtrack.core.exceptions import Conflict, NotFound, PermissionDenied, ValidationError
from costtrack.core.money import reporting_currency, round_money
from costtrack.core.roles import FINANCE, is_finance

from . import extensions
from .models import Cost, CostStatus
from .period_models import AccountingPeriod, PeriodStatus, RecurringCostOccurrence

logger = logging.getLogger(__name__)

LABEL_RE = re.compile(r"^(\d{4})-(\d{2})$")
PENDING_LISTED = 20

Progress = Callable[[int, int], None] | None


# --- dates -----------------------------------------------------------------------------


def start_day() -> int:
    day = int(getattr(settings, "ACCOUNTING_PERIOD_START_DAY", 1))
    if not 1 <= day <= 28:
        raise ValueError("ACCOUNTING_PERIOD_START_DAY must be between 1 and 28.")
    return day


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months, clamped to the end of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(f"Cannot move {day} by {months} months.")  # pragma: no cover


def parse_label(label: str) -> tuple[int, int]:
    """``"2025-03"`` → ``(2025, 3)``; anything else is a ``ValidationError`` on ``period``."""
    match = LABEL_RE.match(str(label or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1970:
        raise ValidationError(
            f"'{label}' is not a period: write it as YYYY-MM, e.g. 2025-03.", field="period"
        )
    return int(match.group(1)), int(match.group(2))


def period_bounds(label: str) -> tuple[date, date]:
    """First and last day of the period ``label`` (YYYY-MM)."""
    year, month = parse_label(label)
    first = date(year, month, start_day())
    return first, add_months(first, 1) - timedelta(days=1)


def label_for(day: date) -> str:
    """The label of the period containing ``day``."""
    first = date(day.year, day.month, 1)
    if day.day < start_day():
        first = add_months(first, -1)
    return f"{first:%Y-%m}"


# --- guard -----------------------------------------------------------------------------


GUARD_SQL = 'SELECT label, status FROM costs_accountingperiod WHERE start <= %s AND "end" >= %s'


def closed_period_guard(*, day: date) -> None:
    """Raise ``Conflict`` (409) when ``day`` falls in a closed period.

    On PostgreSQL the period row is read ``FOR SHARE``: a change waits while a close holds
    the row (and the close waits for the change), so no change slips in between the close
    computing its totals and committing them. Changes in the same period do not block each
    other.
    """
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(GUARD_SQL + lock, [day, day])
        row = cursor.fetchone()
    if row is not None and row[1] == PeriodStatus.CLOSED:
        raise Conflict(
            f"The period {row[0]} is closed: its costs cannot change. "
            "Record a correction as a new cost or credit in an open period.",
            code="period_closed",
            extra={"period": row[0]},
        )


def connect() -> None:
    """Register the closed-period guard (called from ``CostsConfig.ready``)."""
    extensions.register_cost_change_guard(closed_period_guard)


# --- selectors -------------------------------------------------------------------------


def period_list(*, status: str | None = None) -> QuerySet[AccountingPeriod]:
    qs = AccountingPeriod.objects.select_related("closed_by").order_by("-start")
    if status:
        if status not in PeriodStatus.values:
            raise ValidationError(
                f"Unknown status '{status}': use one of {', '.join(PeriodStatus.values)}.",
                field="status",
            )
        qs = qs.filter(status=status)
    return qs


def period_get(*, label: str | None = None, pk: int | None = None) -> AccountingPeriod:
    """The period by label (YYYY-MM) or id, or ``NotFound``."""
    if label is not None:
        parse_label(label)
        period = AccountingPeriod.objects.filter(label=label).first()
    else:
        period = AccountingPeriod.objects.filter(pk=pk).first()
    if period is None:
        raise NotFound(f"No period {label or pk}: create it first.")
    return period


def period_costs(period: AccountingPeriod) -> QuerySet[Cost]:
    return Cost.objects.filter(incurred_on__gte=period.start, incurred_on__lte=period.end)


def period_pending(period: AccountingPeriod) -> list[dict]:
    """The costs of the period still waiting for a decision, oldest first."""
    rows = (
        period_costs(period)
        .filter(status=CostStatus.PENDING)
        .order_by("incurred_on", "id")
        .values("id", "amount", "currency", "incurred_on", "description")
    )
    return [
        {
            "id": r["id"],
            "amount": str(round_money(r["amount"], r["currency"])),
            "currency": r["currency"],
            "incurred_on": str(r["incurred_on"]),
            "description": r["description"],
        }
        for r in rows
    ]


def period_totals(period: AccountingPeriod) -> dict:
    """Live totals of a period in the reporting currency (one grouped query, plus one count).

    ``approved`` is actual spend, ``pending`` committed spend; ``by_status`` has count and
    total per status, ``by_category`` the approved total per category slug.
    """
    rows = (
        period_costs(period)
        .values_list("status", "category__slug")
        .annotate(count=Count("id"), total=Sum("amount_reporting"))
        .order_by()
    )
    by_status: dict[str, dict] = {}
    by_category: dict[str, Decimal] = {}
    sums: dict[str, Decimal] = {}
    for status, slug, count, total in rows:
        entry = by_status.setdefault(status, {"count": 0, "total": Decimal(0)})
        entry["count"] += count
        entry["total"] += total
        sums[status] = sums.get(status, Decimal(0)) + total
        if status == CostStatus.APPROVED:
            by_category[slug] = by_category.get(slug, Decimal(0)) + total
    recurring = RecurringCostOccurrence.objects.filter(
        due_on__gte=period.start, due_on__lte=period.end
    ).count()
    currency = reporting_currency()

    def money(value) -> str:
        return str(round_money(value or Decimal(0), currency))

    return {
        "period": period.label,
        "start": str(period.start),
        "end": str(period.end),
        "currency": currency,
        "approved": money(sums.get(CostStatus.APPROVED)),
        "pending": money(sums.get(CostStatus.PENDING)),
        "cost_count": sum(e["count"] for e in by_status.values()),
        "by_status": {
            k: {"count": v["count"], "total": money(v["total"])}
            for k, v in sorted(by_status.items())
        },
        "by_category": {k: money(v) for k, v in sorted(by_category.items())},
        "recurring_occurrences": recurring,
    }


# --- services --------------------------------------------------------------------------


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


def period_get_or_create(*, label: str) -> AccountingPeriod:
    """The period ``label``, created open when missing (safe against a concurrent create)."""
    existing = AccountingPeriod.objects.filter(label=label).first()
    if existing is not None:
        return existing
    try:
        return period_create(label=label)
    except Conflict:
        return period_get(label=label)


@dataclass
class Calculation:
    period: AccountingPeriod
    generated: int
    errors: list[str]
    totals: dict


def period_calculate(*, period: AccountingPeriod, acting_user=None, progress=None) -> Calculation:
    """Generate the recurring costs due in the period, then compute its live totals.

    A closed period generates nothing and answers its frozen totals.
    """
    from .recurring import recurring_costs_generate

    _check_finance(acting_user)
    period = AccountingPeriod.objects.get(pk=period.pk)
    if period.status == PeriodStatus.CLOSED:
        return Calculation(period=period, generated=0, errors=[], totals=period.totals)
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


def _close_generate(period: AccountingPeriod, progress) -> dict:
    from .recurring import recurring_costs_generate

    result = recurring_costs_generate(since=period.start, until=period.end, progress=progress)
    return {"created": result.created, "errors": result.errors}


@transaction.atomic
def _close_begin(
    period: AccountingPeriod, generated: dict, pending: list[dict]
) -> AccountingPeriod:
    period = _locked(period)
    if period.status != PeriodStatus.OPEN:
        return period
    period.begin_close()
    period.closing_started_at = timezone.now()
    period.pending_at_close = pending
    period.close_steps = {**period.close_steps, "generate": generated}
    period.save(update_fields=["status", "closing_started_at", "pending_at_close", "close_steps"])
    return period


@transaction.atomic
def _close_run_steps(period: AccountingPeriod, acting_user) -> AccountingPeriod:
    """Run the registered close steps not yet recorded, and record them, in one transaction.

    A step that committed its own work before a crash is run again: steps are idempotent
    (the allocation returns its existing run for unchanged inputs)."""
    period = _locked(period)
    if period.status != PeriodStatus.CLOSING:
        return period
    done = dict(period.close_steps.get("steps") or {})
    for name, step in extensions.period_close_steps():
        if name in done:
            continue
        done[name] = step(period=period, acting_user=acting_user)
    period.close_steps = {**period.close_steps, "steps": done}
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


def period_close_check(*, period: AccountingPeriod, allow_pending: bool | None = None) -> None:
    """Raise what ``period_close`` would refuse with, without writing anything."""
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
    progress=None,
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
    generated = _close_generate(period, progress)
    if period.status == PeriodStatus.OPEN:
        pending = period_pending(period)
        if pending and not _close_allowed_with_pending(allow_pending):
            raise _pending_refusal(period, pending)
        period = _close_begin(period, generated, pending)
    period = _close_run_steps(period, acting_user)
    return _close_freeze(period, acting_user)


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


__all__ = [
    "Calculation",
    "add_months",
    "close_day",
    "closed_period_guard",
    "label_for",
    "parse_label",
    "period_bounds",
    "period_calculate",
    "period_close",
    "period_close_check",
    "period_close_previous",
    "period_create",
    "period_get",
    "period_get_or_create",
    "period_list",
    "period_pending",
    "period_totals",
]
