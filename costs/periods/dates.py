"""Dates of accounting periods: labels (YYYY-MM) and their first and last days."""

from __future__ import annotations

import re
from datetime import date, timedelta

from django.conf import settings

from costtrack.core.exceptions import ValidationError

LABEL_RE = re.compile(r"^(\d{4})-(\d{2})$")


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
