"""The period guard the cost services call before any change to a cost.

A cost incurred in a ``closed`` period never changes again; one in a ``closing`` period does
not change either (its allocation and totals are being frozen), except for the close's own
work: the close pipeline wraps its recurring-cost generation in ``close_changes(period)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date

from django.db import connection

from costtrack.core.exceptions import Conflict

from ..period_models import AccountingPeriod, PeriodStatus

GUARD_SQL = 'SELECT label, status FROM costs_accountingperiod WHERE start <= %s AND "end" >= %s'

# The label of the period whose close is running in this thread (or task), if any.
_closing: ContextVar[str | None] = ContextVar("costs_period_closing", default=None)


@contextmanager
def close_changes(period: AccountingPeriod) -> Iterator[None]:
    """Let the close of ``period`` book costs in it while it is ``closing``."""
    token = _closing.set(period.label)
    try:
        yield
    finally:
        _closing.reset(token)


def _refusal(label: str, status: str) -> Conflict:
    if status == PeriodStatus.CLOSED:
        return Conflict(
            f"The period {label} is closed: its costs cannot change. "
            "Record a correction as a new cost or credit in an open period.",
            code="period_closed",
            extra={"period": label},
        )
    return Conflict(
        f"The period {label} is closing: its costs cannot change while its allocation and "
        "totals are frozen. Record a correction as a new cost or credit in an open period.",
        code="period_closing",
        extra={"period": label},
    )


def closed_period_guard(*, day: date) -> None:
    """Raise ``Conflict`` (409) when ``day`` falls in a closed or closing period.

    A ``closing`` period admits the changes of its own close (``close_changes``) only. On
    PostgreSQL the period row is read ``FOR SHARE``: a change waits while a close holds the
    row (and the close waits for the change), so no change slips in between the close
    beginning, or computing its totals, and committing. Changes in the same period do not
    block each other.
    """
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(GUARD_SQL + lock, [day, day])
        row = cursor.fetchone()
    if row is None or row[1] == PeriodStatus.OPEN:
        return
    label, status = row
    if status == PeriodStatus.CLOSING and _closing.get() == label:
        return
    raise _refusal(label, status)


def frozen_ranges() -> list[tuple[date, date]]:
    """(start, end) of the periods whose costs may not change here: the closed ones and the
    closing ones other than the period this close is working on."""
    current = _closing.get()
    return [
        (start, end)
        for label, status, start, end in AccountingPeriod.objects.exclude(
            status=PeriodStatus.OPEN
        ).values_list("label", "status", "start", "end")
        if status == PeriodStatus.CLOSED or label != current
    ]
