"""Corrections to closed months: a file's charges for a closed accounting period (a
restatement, or ``ChargeClass = Correction``) are booked in the first open period after it,
each linked to the period it corrects (``ImportedCost.corrects_period``), so that the closed
period's figures never change. A ``closing`` period is left alone here: the period guard
refuses the import while the close runs, as for any cost.
"""

from datetime import date, timedelta

from ..period_models import AccountingPeriod, PeriodStatus
from ..periods import label_for, period_get_or_create
from .sql import execute as _execute
from .sql import fetch as _fetch


def _target(period: AccountingPeriod, *, latest_frozen_end: date, acting_user) -> AccountingPeriod:
    """The first open period after ``period`` (created after the last frozen one if none)."""
    target = (
        AccountingPeriod.objects.filter(status=PeriodStatus.OPEN, start__gt=period.end)
        .order_by("start")
        .first()
    )
    if target is not None:
        return target
    return period_get_or_create(
        label=label_for(latest_frozen_end + timedelta(days=1)), acting_user=acting_user
    )


def book_corrections(*, acting_user) -> int:
    """Move the groups of closed periods to their first open period; mark ``Correction``
    rows of open periods with the period they correct. Returns the groups moved."""
    frozen = list(AccountingPeriod.objects.exclude(status=PeriodStatus.OPEN).order_by("start"))
    closed = [p for p in frozen if p.status == PeriodStatus.CLOSED]
    moved = 0
    if closed:
        (first_day, last_day) = _fetch(
            "SELECT min(day), max(day) FROM _focus_groups WHERE sign <> 0"
        )[0]
        touched = [
            p
            for p in closed
            if first_day is not None and p.start <= last_day and p.end >= first_day
        ]
        if touched:
            latest = max(p.end for p in frozen)
            moves = [
                (
                    p.pk,
                    p.start,
                    p.end,
                    _target(p, latest_frozen_end=latest, acting_user=acting_user),
                )
                for p in touched
            ]
            moved = _execute(
                """
                UPDATE _focus_groups g SET charged_on = g.day, corrects_period_id = m.period_id,
                    day = m.target, day_end = m.target
                FROM unnest(%s::bigint[], %s::date[], %s::date[], %s::date[])
                    AS m(period_id, first_day, last_day, target)
                WHERE g.sign <> 0 AND g.day BETWEEN m.first_day AND m.last_day
                """,
                [
                    [m[0] for m in moves],
                    [m[1] for m in moves],
                    [m[2] for m in moves],
                    [m[3].start for m in moves],
                ],
            )
    _execute(
        """
        UPDATE _focus_groups g SET charged_on = g.day, corrects_period_id = p.id
        FROM costs_accountingperiod p
        WHERE g.correction AND g.corrects_period_id IS NULL AND g.sign <> 0
          AND g.day BETWEEN p.start AND p."end"
        """
    )
    return moved


def correction_target_day(*, day: date, acting_user) -> tuple[date, int | None]:
    """Where a reversal of a cost of ``day`` goes: ``day`` itself when its period is open
    (or unknown), else the first open period's first day, with the closed period's id."""
    period = AccountingPeriod.objects.filter(start__lte=day, end__gte=day).first()
    if period is None or period.status != PeriodStatus.CLOSED:
        return day, None
    frozen_end = (
        AccountingPeriod.objects.exclude(status=PeriodStatus.OPEN)
        .order_by("-end")
        .values_list("end", flat=True)
        .first()
    )
    target = _target(period, latest_frozen_end=frozen_end, acting_user=acting_user)
    return target.start, period.pk
