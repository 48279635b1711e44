"""Budget periods as pure functions: which period contains a moment, and how far through it
that moment is.

Every period is a half-open interval ``[start, end)`` of aware datetimes. Day-grained
periods (daily … annual, custom) start and end at local midnight, so their first and last
days are ``start.date()`` and ``(end - 1 µs).date()``; hourly periods are held in UTC so an
hour across a daylight-saving change is still sixty minutes long. Quarters follow the fiscal
year: with a fiscal year starting in April, Q1 is April to June.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

UTC = ZoneInfo("UTC")

HOURLY = "hourly"
DAILY = "daily"
WEEKLY = "weekly"
MONTHLY = "monthly"
QUARTERLY = "quarterly"
ANNUAL = "annual"
CUSTOM = "custom"
PERIOD_TYPES = (HOURLY, DAILY, WEEKLY, MONTHLY, QUARTERLY, ANNUAL, CUSTOM)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive
    hourly: bool = False

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).date()

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def contains_day(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def as_labels(self) -> tuple[str, str]:
        """``(period_start, period_end)`` for people and JSON: datetimes for an hourly period,
        otherwise the first and the last day (inclusive)."""
        if self.hourly:
            return self.start.isoformat(), self.end.isoformat()
        return self.first_day.isoformat(), self.last_day.isoformat()

    def elapsed_fraction(self, now: datetime) -> Decimal:
        """How much of the period has passed at ``now`` (0 before it, 1 after it).

        A day-grained period counts the current day as elapsed, so on the last day of a
        month the month is complete and a forecast equals the spend.
        """
        if now < self.start:
            return Decimal(0)
        if now >= self.end:
            return Decimal(1)
        if self.hourly:
            total = (self.end - self.start).total_seconds()
            return Decimal(str((now - self.start).total_seconds())) / Decimal(str(total))
        days = (self.last_day - self.first_day).days + 1
        elapsed = (now.date() - self.first_day).days + 1
        return Decimal(elapsed) / Decimal(days)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def _fiscal_year_start(day: date, fiscal_start_month: int) -> date:
    year = day.year if day.month >= fiscal_start_month else day.year - 1
    return date(year, fiscal_start_month, 1)


def day_bounds(
    period: str,
    day: date,
    *,
    fiscal_start_month: int = 1,
    custom_start: date | None = None,
    custom_end: date | None = None,
) -> tuple[date, date] | None:
    """The first and last day of the day-grained period containing ``day``.

    ``None`` for a custom period that does not contain ``day``. Raises ``ValueError`` for
    an unknown period, an hourly period (it is not day-grained) or a custom period without
    both dates.
    """
    if not 1 <= fiscal_start_month <= 12:
        raise ValueError("The fiscal year start month must be 1 to 12.")
    if period == DAILY:
        return day, day
    if period == WEEKLY:
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if period == MONTHLY:
        start = day.replace(day=1)
        return start, _add_months(start, 1) - timedelta(days=1)
    if period == QUARTERLY:
        fiscal = _fiscal_year_start(day, fiscal_start_month)
        months_in = (day.year - fiscal.year) * 12 + day.month - fiscal.month
        start = _add_months(fiscal, months_in - months_in % 3)
        return start, _add_months(start, 3) - timedelta(days=1)
    if period == ANNUAL:
        start = _fiscal_year_start(day, fiscal_start_month)
        return start, _add_months(start, 12) - timedelta(days=1)
    if period == CUSTOM:
        if custom_start is None or custom_end is None:
            raise ValueError("A custom period needs a start and an end date.")
        if custom_start <= day <= custom_end:
            return custom_start, custom_end
        return None
    raise ValueError(f"Unknown or not day-grained period '{period}'.")


def period_containing(
    period: str,
    moment: datetime,
    *,
    tz: ZoneInfo,
    fiscal_start_month: int = 1,
    custom_start: date | None = None,
    custom_end: date | None = None,
) -> Period | None:
    """The period of type ``period`` that contains the aware datetime ``moment``.

    Days are taken in ``tz``. ``None`` only for a custom period that does not contain it.
    """
    local = moment.astimezone(tz)
    if period == HOURLY:
        # Kept in UTC so that an hour across a DST change is still sixty minutes long.
        start = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        return Period(start=start, end=start + timedelta(hours=1), hourly=True)
    bounds = day_bounds(
        period,
        local.date(),
        fiscal_start_month=fiscal_start_month,
        custom_start=custom_start,
        custom_end=custom_end,
    )
    if bounds is None:
        return None
    first, last = bounds
    return Period(start=_midnight(first, tz), end=_midnight(last + timedelta(days=1), tz))


def custom_period(start: date, end: date, *, tz: ZoneInfo) -> Period:
    """A custom budget's whole range, whether or not it contains today."""
    return Period(start=_midnight(start, tz), end=_midnight(end + timedelta(days=1), tz))
