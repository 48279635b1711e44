"""Accounting periods: their dates, the close pipeline, and the period guard.

A period is a month of the books labelled ``YYYY-MM`` that starts on the day
``settings.ACCOUNTING_PERIOD_START_DAY`` (1–28) of that month and ends the day before the
same day of the next month. Closing a period (``period_close``) runs these steps, each of
which may be run again after a worker died in the middle:

1. generate the recurring costs due in the period (unique occurrences: nothing twice);
2. under the period lock, check what is still pending: refuse (``Conflict``) unless closing
   with pending costs is allowed (``settings.COSTS_CLOSE_WITH_PENDING`` or
   ``allow_pending=True``); the period becomes ``closing`` and the pending list is kept;
3. in one transaction holding the period, run every step registered with
   ``costs.extensions.register_period_close_step`` (the allocation run of the period, with
   loss carried forward) and record them; a close resuming a ``closing`` period books what
   fell due since first, in that transaction, so nothing is generated after the steps are
   recorded;
4. store the period's totals, flip it to ``closed`` and notify finance — in one transaction.

From step 2 on the guard registered here makes the cost services refuse creating, editing or
transitioning a cost incurred in the period (409 "the period … is closing", then "… is
closed"); only the close's own generation (``close_changes``) books into a closing period.
"""

from .dates import add_months, label_for, parse_label, period_bounds, start_day
from .guard import close_changes, closed_period_guard, frozen_ranges
from .selectors import period_costs, period_get, period_list, period_pending, period_totals
from .services import (
    Calculation,
    close_day,
    period_calculate,
    period_close,
    period_close_check,
    period_close_enqueue,
    period_close_previous,
    period_create,
    period_get_or_create,
)


def connect() -> None:
    """Register the period guard (called from ``CostsConfig.ready``)."""
    from .. import extensions

    extensions.register_cost_change_guard(closed_period_guard)


__all__ = [
    "Calculation",
    "add_months",
    "close_day",
    "close_changes",
    "closed_period_guard",
    "connect",
    "frozen_ranges",
    "label_for",
    "parse_label",
    "period_bounds",
    "period_calculate",
    "period_close",
    "period_close_check",
    "period_close_enqueue",
    "period_close_previous",
    "period_costs",
    "period_create",
    "period_get",
    "period_get_or_create",
    "period_list",
    "period_pending",
    "period_totals",
    "start_day",
]
