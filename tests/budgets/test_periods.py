"""Period maths: pure functions, no database."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from budgets import periods

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("period", "day", "fiscal", "expected"),
    [
        ("daily", date(2025, 3, 15), 1, (date(2025, 3, 15), date(2025, 3, 15))),
        # 2025-03-15 is a Saturday: its week runs Monday 10th to Sunday 16th.
        ("weekly", date(2025, 3, 15), 1, (date(2025, 3, 10), date(2025, 3, 16))),
        ("weekly", date(2025, 3, 10), 1, (date(2025, 3, 10), date(2025, 3, 16))),
        ("weekly", date(2025, 1, 1), 1, (date(2024, 12, 30), date(2025, 1, 5))),
        ("monthly", date(2024, 2, 10), 1, (date(2024, 2, 1), date(2024, 2, 29))),
        ("monthly", date(2025, 12, 31), 1, (date(2025, 12, 1), date(2025, 12, 31))),
        ("quarterly", date(2025, 5, 20), 1, (date(2025, 4, 1), date(2025, 6, 30))),
        ("quarterly", date(2025, 12, 31), 1, (date(2025, 10, 1), date(2025, 12, 31))),
        # Fiscal year from April: Q4 is January to March.
        ("quarterly", date(2025, 2, 1), 4, (date(2025, 1, 1), date(2025, 3, 31))),
        ("quarterly", date(2025, 4, 1), 4, (date(2025, 4, 1), date(2025, 6, 30))),
        # Fiscal year from November: Q1 is Nov-Jan, across the calendar year.
        ("quarterly", date(2026, 1, 31), 11, (date(2025, 11, 1), date(2026, 1, 31))),
        ("annual", date(2025, 6, 1), 1, (date(2025, 1, 1), date(2025, 12, 31))),
        ("annual", date(2025, 3, 31), 4, (date(2024, 4, 1), date(2025, 3, 31))),
        ("annual", date(2025, 4, 1), 4, (date(2025, 4, 1), date(2026, 3, 31))),
    ],
)
def test_day_bounds(period, day, fiscal, expected):
    assert periods.day_bounds(period, day, fiscal_start_month=fiscal) == expected


def test_custom_period_contains_only_its_range():
    kw = {"custom_start": date(2025, 3, 10), "custom_end": date(2025, 4, 20)}
    assert periods.day_bounds("custom", date(2025, 3, 10), **kw) == (
        date(2025, 3, 10),
        date(2025, 4, 20),
    )
    assert periods.day_bounds("custom", date(2025, 4, 20), **kw) is not None
    assert periods.day_bounds("custom", date(2025, 3, 9), **kw) is None
    assert periods.day_bounds("custom", date(2025, 4, 21), **kw) is None


def test_custom_without_dates_and_unknown_period_are_errors():
    with pytest.raises(ValueError):
        periods.day_bounds("custom", date(2025, 1, 1))
    with pytest.raises(ValueError):
        periods.day_bounds("fortnightly", date(2025, 1, 1))
    with pytest.raises(ValueError):
        periods.day_bounds("monthly", date(2025, 1, 1), fiscal_start_month=13)


def test_hourly_period_is_the_clock_hour():
    p = periods.period_containing("hourly", datetime(2025, 3, 15, 14, 37, 5, tzinfo=UTC), tz=UTC)
    assert p.start == datetime(2025, 3, 15, 14, 0, tzinfo=UTC)
    assert p.end == datetime(2025, 3, 15, 15, 0, tzinfo=UTC)
    assert p.as_labels() == ("2025-03-15T14:00:00+00:00", "2025-03-15T15:00:00+00:00")
    assert p.contains(datetime(2025, 3, 15, 14, 59, 59, tzinfo=UTC))
    assert not p.contains(p.end)


def test_days_are_taken_in_the_local_time_zone():
    # 23:30 UTC on the 31st is already 1 April in Berlin.
    moment = datetime(2025, 3, 31, 23, 30, tzinfo=UTC)
    p = periods.period_containing("monthly", moment, tz=BERLIN)
    assert (p.first_day, p.last_day) == (date(2025, 4, 1), date(2025, 4, 30))
    assert p.start == datetime(2025, 4, 1, tzinfo=BERLIN)
    assert p.as_labels() == ("2025-04-01", "2025-04-30")


def test_hour_across_daylight_saving_change_is_sixty_minutes():
    # Berlin clocks jump from 02:00 to 03:00 on 2025-03-30.
    moment = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)  # 01:30 local
    p = periods.period_containing("hourly", moment, tz=BERLIN)
    assert p.end - p.start == timedelta(hours=1)
    assert p.start == datetime(2025, 3, 30, 1, 0, tzinfo=BERLIN)
    assert p.contains(moment)
    assert p.elapsed_fraction(moment) == Decimal("0.5")


def test_elapsed_fraction_counts_today_for_day_periods():
    p = periods.period_containing("monthly", datetime(2025, 4, 1, tzinfo=UTC), tz=UTC)
    assert p.elapsed_fraction(datetime(2025, 3, 31, 12, tzinfo=UTC)) == 0
    assert p.elapsed_fraction(datetime(2025, 4, 1, 8, tzinfo=UTC)) == Decimal(1) / Decimal(30)
    assert p.elapsed_fraction(datetime(2025, 4, 15, 8, tzinfo=UTC)) == Decimal("0.5")
    assert p.elapsed_fraction(datetime(2025, 4, 30, 23, tzinfo=UTC)) == 1
    assert p.elapsed_fraction(datetime(2025, 5, 1, tzinfo=UTC)) == 1
    hour = periods.period_containing("hourly", datetime(2025, 4, 1, 8, tzinfo=UTC), tz=UTC)
    assert hour.elapsed_fraction(datetime(2025, 4, 1, 8, 15, tzinfo=UTC)) == Decimal("0.25")


@settings(max_examples=80, deadline=None)
@given(
    day=st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)),
    period=st.sampled_from(["daily", "weekly", "monthly", "quarterly", "annual"]),
    fiscal=st.integers(min_value=1, max_value=12),
)
def test_periods_tile_the_calendar(day, period, fiscal):
    """The period containing a day contains it, and the next one starts the day after."""
    first, last = periods.day_bounds(period, day, fiscal_start_month=fiscal)
    assert first <= day <= last
    following = periods.day_bounds(period, last + timedelta(days=1), fiscal_start_month=fiscal)
    assert following[0] == last + timedelta(days=1)
    assert periods.day_bounds(period, first, fiscal_start_month=fiscal) == (first, last)
    if period == "weekly":
        assert first.weekday() == 0
    if period in ("quarterly", "annual"):
        assert first.day == 1 and (first.month - fiscal) % 3 == 0
