"""What every rule shares: the candidate row, money as JSON, the day computations run for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import Max
from django.utils import timezone

from costs.models import SpendDay
from costs.summary.grains import SPENDING

CENT = Decimal("0.01")
ZERO = Decimal(0)


@dataclass
class Candidate:
    """One recommendation as a rule found it (``amount`` in the reporting currency)."""

    kind: str
    key: str
    title: str
    unit_id: int | None
    amount: Decimal
    link: str
    evidence: dict[str, Any] = field(default_factory=dict)


def cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_EVEN)


def money(value: Decimal) -> str:
    """Money in evidence: a string, to the cent (JSON has no decimals)."""
    return str(cents(value))


def as_of_day(now: datetime) -> date:
    """The day the spend rules look at: the latest day with summarised spend, up to today
    (a day's import lands later than the day itself); today when there is none."""
    today = timezone.localdate(now)
    latest = (
        SpendDay.objects.filter(day__lte=today, entries__gt=0, status__in=SPENDING)
        .aggregate(latest=Max("day"))
        .get("latest")
    )
    return latest or today
