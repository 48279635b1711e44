"""Exchange rates and conversion to the reporting currency.

Converting uses the latest rate on or before the cost's day; the reporting currency itself has
rate 1. ``amount_reporting`` is rounded (half-even) to the reporting currency's minor unit.
When rates change, ``costs_reconvert`` recomputes the stored amounts; the rate services
record it (the ``costs.reconvert_costs`` task) as a job of the outbox in their transaction.
"""

import bisect
import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from costtrack.core.exceptions import Conflict, PermissionDenied, ValidationError
from costtrack.core.jobs import job_enqueue
from costtrack.core.money import is_known_currency, reporting_currency, round_money
from costtrack.core.roles import is_finance, refuse_read_only

from ..extensions import rate_change_hooks
from ..models import Cost, CostEvent, ExchangeRate
from ..summary.maintain import summary_moving

RATE_MAX = Decimal(10) ** 12


@dataclass(frozen=True)
class Conversion:
    amount_reporting: Decimal
    rate: Decimal


def rate_on(*, currency: str, on: date) -> Decimal:
    """The rate of ``currency`` on ``on`` (latest on or before); raises ValidationError
    on ``currency`` when there is none."""
    currency = currency.upper()
    if currency == reporting_currency():
        return Decimal(1)
    rate = (
        ExchangeRate.objects.filter(currency=currency, date__lte=on)
        .order_by("-date")
        .values_list("rate", flat=True)
        .first()
    )
    if rate is None:
        raise ValidationError(
            f"No exchange rate for {currency} on or before {on.isoformat()}; "
            f"load one before recording costs in {currency}.",
            field="currency",
            code="no_exchange_rate",
        )
    return rate


def convert(*, amount: Decimal, currency: str, on: date) -> Conversion:
    """Convert an amount to the reporting currency at the rate of ``on``."""
    rate = rate_on(currency=currency, on=on)
    return Conversion(amount_reporting=round_money(amount * rate, reporting_currency()), rate=rate)


class RateTable:
    """``convert`` for many amounts with one query: the rates of ``currencies`` up to
    ``until`` loaded at once, the same rule (latest rate on or before the day, half-even to
    the reporting currency's minor unit) and the same error as ``convert``."""

    def __init__(self, currencies, *, until: date) -> None:
        self.reporting = reporting_currency()
        wanted = {c.upper() for c in currencies if c and c.upper() != self.reporting}
        self.rates: dict[str, tuple[list[date], list[Decimal]]] = defaultdict(lambda: ([], []))
        if wanted:
            for cur, day, rate in (
                ExchangeRate.objects.filter(currency__in=wanted, date__lte=until)
                .order_by("currency", "date")
                .values_list("currency", "date", "rate")
            ):
                self.rates[cur][0].append(day)
                self.rates[cur][1].append(rate)

    def rate(self, currency: str, on: date) -> Decimal:
        currency = currency.upper()
        if currency == self.reporting:
            return Decimal(1)
        days, values = self.rates.get(currency, ([], []))
        index = bisect.bisect_right(days, on) - 1
        if index < 0:
            raise ValidationError(
                f"No exchange rate for {currency} on or before {on.isoformat()}; "
                f"load one before recording amounts in {currency}.",
                field="currency",
                code="no_exchange_rate",
            )
        return values[index]

    def convert(self, *, amount: Decimal, currency: str, on: date) -> Conversion:
        rate = self.rate(currency, on)
        return Conversion(amount_reporting=round_money(amount * rate, self.reporting), rate=rate)


def _schedule_reconvert(*, currency: str, since: date) -> None:
    job_enqueue(
        task="costs.reconvert_costs",
        kwargs={"currency": currency, "since": since.isoformat()},
        key=f"costs.reconvert:{currency}:{since.isoformat()}",
    )
    for hook in rate_change_hooks():
        hook(currency=currency, since=since)


def _check_finance(acting_user) -> None:
    if acting_user is None:
        return
    refuse_read_only(acting_user)
    if not is_finance(acting_user):
        raise PermissionDenied("Only finance staff may change exchange rates.")


def _clean_rate(*, currency, rate, on) -> tuple[str, Decimal]:
    if not isinstance(currency, str) or not is_known_currency(currency):
        raise ValidationError(f"Unknown currency '{currency}'.", field="currency")
    currency = currency.upper()
    if currency == reporting_currency():
        raise ValidationError(
            f"{currency} is the reporting currency; its rate is always 1.", field="currency"
        )
    try:
        rate = Decimal(str(rate))
    except (InvalidOperation, ValueError):
        raise ValidationError("Enter a valid decimal rate.", field="rate") from None
    if not rate.is_finite() or rate <= 0 or rate >= RATE_MAX:
        raise ValidationError("The rate must be a positive finite number.", field="rate")
    if rate.as_tuple().exponent < -12:
        raise ValidationError("The rate allows at most 12 decimal places.", field="rate")
    if not isinstance(on, date) or on < date(1970, 1, 1):
        raise ValidationError("Enter a date on or after 1970-01-01.", field="date")
    return currency, rate


@transaction.atomic
def exchange_rate_set(
    *, currency: str, date: date, rate: Decimal, acting_user=None
) -> ExchangeRate:
    """Create or replace the rate of ``currency`` on ``date`` (finance only when
    ``acting_user`` is given). Schedules reconversion of costs from that date on commit."""
    _check_finance(acting_user)
    currency, rate = _clean_rate(currency=currency, rate=rate, on=date)
    exchange_rate, _ = ExchangeRate.objects.select_for_update().get_or_create(
        currency=currency, date=date, defaults={"rate": rate}
    )
    if exchange_rate.rate != rate:
        exchange_rate.rate = rate
        exchange_rate.full_clean()
        exchange_rate.save(update_fields=["rate"])
    _schedule_reconvert(currency=currency, since=date)
    return exchange_rate


@transaction.atomic
def exchange_rate_update(
    *, exchange_rate: ExchangeRate, acting_user=None, **fields
) -> ExchangeRate:
    """Change a rate's currency, date or rate; reconverts both the old and the new day's costs."""
    _check_finance(acting_user)
    old_currency, old_date = exchange_rate.currency, exchange_rate.date
    currency, rate = _clean_rate(
        currency=fields.get("currency", exchange_rate.currency),
        rate=fields.get("rate", exchange_rate.rate),
        on=fields.get("date", exchange_rate.date),
    )
    exchange_rate.currency, exchange_rate.rate = currency, rate
    exchange_rate.date = fields.get("date", exchange_rate.date)
    exchange_rate.full_clean()
    exchange_rate.save()
    _schedule_reconvert(currency=old_currency, since=min(old_date, exchange_rate.date))
    if currency != old_currency:
        _schedule_reconvert(currency=currency, since=exchange_rate.date)
    return exchange_rate


@transaction.atomic
def exchange_rate_delete(*, exchange_rate: ExchangeRate, acting_user=None) -> None:
    """Delete a rate. Costs that would then have no rate keep their last conversion."""
    _check_finance(acting_user)
    currency, on = exchange_rate.currency, exchange_rate.date
    exchange_rate.delete()
    _schedule_reconvert(currency=currency, since=on)


@transaction.atomic
def exchange_rates_load_csv(path: str | Path | io.TextIOBase, *, acting_user=None) -> int:
    """Load a CSV with columns ``date,currency,rate`` (a header row is required).

    The whole file is one transaction: any bad line refuses all of it with a ValidationError
    listing every problem with its line number. Existing (currency, date) rates are replaced.
    Returns the number of rates written; reconversion is scheduled on commit.
    """
    _check_finance(acting_user)
    if isinstance(path, (str, Path)):
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return _load_rates(handle)
    return _load_rates(path)


def _load_rates(handle) -> int:
    reader = csv.DictReader(handle)
    required = {"date", "currency", "rate"}
    header = {h.strip().lower() for h in (reader.fieldnames or [])}
    if not required <= header:
        raise ValidationError(
            f"Line 1: the header must name the columns date, currency, rate "
            f"(missing: {', '.join(sorted(required - header))}).",
            field="file",
        )
    errors: list[str] = []
    parsed: dict[tuple[str, date], Decimal] = {}
    for row in reader:
        line = reader.line_num
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        try:
            on = date.fromisoformat(row["date"])
        except ValueError:
            errors.append(f"Line {line}: '{row['date']}' is not a date (YYYY-MM-DD).")
            continue
        try:
            currency, rate = _clean_rate(currency=row["currency"], rate=row["rate"], on=on)
        except ValidationError as exc:
            errors.append(f"Line {line}: {exc.field}: {exc.message}")
            continue
        if (currency, on) in parsed and parsed[(currency, on)] != rate:
            errors.append(f"Line {line}: a different rate for {currency} on {on} came earlier.")
            continue
        parsed[(currency, on)] = rate
    if errors:
        raise ValidationError(" ".join(errors[:50]), field="file", extra={"errors": errors})
    if not parsed:
        raise ValidationError("The file has no rates.", field="file")
    existing = {
        (r.currency, r.date): r
        for r in ExchangeRate.objects.select_for_update().filter(
            currency__in={c for c, _ in parsed}, date__in={d for _, d in parsed}
        )
    }
    to_create, to_update = [], []
    for (currency, on), rate in parsed.items():
        row = existing.get((currency, on))
        if row is None:
            to_create.append(ExchangeRate(currency=currency, date=on, rate=rate))
        elif row.rate != rate:
            row.rate = rate
            to_update.append(row)
    ExchangeRate.objects.bulk_create(to_create, batch_size=1000)
    ExchangeRate.objects.bulk_update(to_update, ["rate"], batch_size=1000)
    since: dict[str, date] = {}
    for currency, on in parsed:
        since[currency] = min(on, since.get(currency, on))
    for currency, on in since.items():
        _schedule_reconvert(currency=currency, since=on)
    return len(parsed)


@transaction.atomic
def costs_reconvert(*, currency: str | None = None, since: date | None = None) -> int:
    """Recompute ``amount_reporting`` and ``exchange_rate`` of costs after rates changed.

    Limited to one currency and to costs incurred on or after ``since`` when given. Costs
    whose conversion changes get one RECONVERT event each (old and new amounts). Costs with
    no rate on their day, and costs whose day a cost-change guard freezes (a closed
    accounting period), keep their stored conversion. Runs a constant number of queries per
    1000 changed costs. Returns the number of costs changed.
    """
    reporting = reporting_currency()
    qs = Cost.objects.exclude(currency=reporting)
    if currency:
        qs = qs.filter(currency=currency.upper())
    if since:
        qs = qs.filter(incurred_on__gte=since)
    currencies = set(qs.values_list("currency", flat=True).distinct())
    if not currencies:
        return 0
    rates: dict[str, tuple[list[date], list[Decimal]]] = defaultdict(lambda: ([], []))
    for cur, day, rate in (
        ExchangeRate.objects.filter(currency__in=currencies)
        .order_by("currency", "date")
        .values_list("currency", "date", "rate")
    ):
        rates[cur][0].append(day)
        rates[cur][1].append(rate)
    now = timezone.now()
    frozen: dict[date, bool] = {}

    def is_frozen(day: date) -> bool:
        # costs of a closed accounting period keep their conversion
        if day not in frozen:
            from .costs import guard_change

            try:
                guard_change(day=day)
                frozen[day] = False
            except Conflict:
                frozen[day] = True
        return frozen[day]

    changed: list[Cost] = []
    events: list[CostEvent] = []
    for cost in qs.select_for_update().only(
        "id", "amount", "currency", "incurred_on", "amount_reporting", "exchange_rate", "status"
    ):
        days, values = rates.get(cost.currency, ([], []))
        index = bisect.bisect_right(days, cost.incurred_on) - 1
        if index < 0:
            continue
        rate = values[index]
        amount_reporting = round_money(cost.amount * rate, reporting)
        if amount_reporting == cost.amount_reporting and rate == cost.exchange_rate:
            continue
        if is_frozen(cost.incurred_on):
            continue
        events.append(
            CostEvent(
                cost_id=cost.pk,
                action=CostEvent.Action.RECONVERT,
                from_status=cost.status,
                to_status=cost.status,
                at=now,
                comment=f"Rate of {cost.currency} on {cost.incurred_on} changed.",
                changes={
                    "amount_reporting": [str(cost.amount_reporting), str(amount_reporting)],
                    "exchange_rate": [str(cost.exchange_rate), str(rate)],
                },
            )
        )
        cost.amount_reporting, cost.exchange_rate = amount_reporting, rate
        changed.append(cost)
    with summary_moving(ids=[cost.pk for cost in changed]):
        Cost.objects.bulk_update(changed, ["amount_reporting", "exchange_rate"], batch_size=1000)
    CostEvent.objects.bulk_create(events, batch_size=1000)
    return len(changed)
