"""The closed-period guard the cost services call before any change to a cost."""

from __future__ import annotations

from datetime import date

from django.db import connection

from costtrack.core.exceptions import Conflict

from ..period_models import PeriodStatus

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
