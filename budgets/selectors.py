"""Reads of budgets: who may see which, which budgets a cost falls under, and how much of a
budget a period has used.

Spend is summed in the budget's currency: a cost in that currency counts with its own
amount; any other cost counts with its reporting-currency amount converted at the latest
rate of the budget's currency on or before the cost's day. One aggregate per budget; many
budgets are answered by one ``UNION ALL`` of those aggregates (``budgets.spend``).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from costs.models import Cost, CostCategory, ExchangeRate
from costtrack.core.money import reporting_currency, round_money
from costtrack.core.roles import sees_everything
from orgunits.models import OrganizationUnit
from orgunits.selectors import TreeRange, subtree_q, user_root_ranges

from . import periods
from .models import Budget, BudgetAlert, BudgetRevision
from .spend import spend_by_budget

User = get_user_model()
ZERO = Decimal(0)
HUNDRED = Decimal(100)


class MissingExchangeRate(LookupError):
    pass


# --- visibility ----------------------------------------------------------------------------


def _ancestors_q(ranges: Iterable[TreeRange], prefix: str) -> Q:
    """Rows whose unit (through ``prefix``) is an ancestor of any of the given units."""
    condition = Q(pk__in=[])
    for tree_id, lft, rght in ranges:
        condition |= Q(
            **{
                f"{prefix}__tree_id": tree_id,
                f"{prefix}__lft__lt": lft,
                f"{prefix}__rght__gt": rght,
            }
        )
    return condition


def _with_relations(qs: QuerySet[Budget]) -> QuerySet[Budget]:
    return qs.select_related("organization_unit", "category", "team", "created_by")


def budget_list(*, user) -> QuerySet[Budget]:
    """Budgets the user may read, by name.

    Finance and auditors read every budget. Anyone else reads the budgets of the units they
    belong to or own (with their subtrees) and of those units' ancestors, whose budgets their
    own costs count against.
    """
    qs = _with_relations(Budget.objects.all())
    if not sees_everything(user):
        ranges = user_root_ranges(user)
        qs = qs.filter(
            subtree_q(ranges, "organization_unit") | _ancestors_q(ranges, "organization_unit")
        )
    return qs.order_by("name", "id")


def my_budgets(*, user) -> QuerySet[Budget]:
    """Budgets that concern the user whatever their role: those of their units (subtrees and
    ancestors) and those of the teams they are in. Active budgets only."""
    ranges = user_root_ranges(user)
    group_ids = list(user.groups.values_list("id", flat=True)) if user.is_authenticated else []
    condition = subtree_q(ranges, "organization_unit") | _ancestors_q(ranges, "organization_unit")
    if group_ids:
        condition |= Q(team_id__in=group_ids)
    return _with_relations(Budget.objects.filter(condition, active=True)).order_by("name", "id")


def budget_alert_list(*, budget: Budget) -> QuerySet[BudgetAlert]:
    return budget.alerts.order_by("-period_start", "threshold", "kind")


def budget_revision_list(*, budget: Budget) -> QuerySet[BudgetRevision]:
    return budget.revisions.select_related("changed_by").order_by("-at", "-id")


# --- periods -------------------------------------------------------------------------------


def local_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _as_moment(on: date | datetime | None) -> datetime:
    if on is None:
        return timezone.now()
    if isinstance(on, datetime):
        return on if timezone.is_aware(on) else on.replace(tzinfo=local_tz())
    return datetime.combine(on, time.min, tzinfo=local_tz())


def budget_period(budget: Budget, on: date | datetime | None = None) -> periods.Period | None:
    """The budget's period containing ``on`` (default now); ``None`` when a custom budget's
    range does not contain it."""
    return periods.period_containing(
        budget.period,
        _as_moment(on),
        tz=local_tz(),
        fiscal_start_month=settings.FISCAL_YEAR_START_MONTH,
        custom_start=budget.start_date,
        custom_end=budget.end_date,
    )


def display_period(budget: Budget, on: date | datetime | None = None) -> periods.Period:
    """The period to show for a budget: the one containing ``on``, or a custom budget's range."""
    found = budget_period(budget, on)
    if found is None:
        return periods.custom_period(budget.start_date, budget.end_date, tz=local_tz())
    return found


# --- scope matching ------------------------------------------------------------------------


def _tags_match(filter_: Mapping[str, str], tags: Mapping[str, str]) -> bool:
    return all(tags.get(key) == value for key, value in filter_.items())


def _matching_sql(include_ignored: bool) -> str:
    budget, unit = Budget._meta.db_table, OrganizationUnit._meta.db_table
    category, user_groups = CostCategory._meta.db_table, User.groups.through._meta.db_table
    ignored = "" if include_ignored else " AND b.action <> %s"
    return (
        f"SELECT b.*, u.tree_id AS _u_tree, u.lft AS _u_lft, u.rght AS _u_rght, "  # noqa: S608  # nosec B608
        f"k.tree_id AS _k_tree, k.lft AS _k_lft, k.rght AS _k_rght FROM {budget} b "
        f"JOIN {unit} u ON u.id = b.organization_unit_id JOIN {unit} cu ON cu.id = %s "
        f"LEFT JOIN {category} k ON k.id = b.category_id "
        f"LEFT JOIN {category} ck ON ck.id = %s "
        "WHERE b.active = %s AND u.tree_id = cu.tree_id AND u.lft <= cu.lft "
        "AND u.rght >= cu.rght AND (b.category_id IS NULL OR (k.tree_id = ck.tree_id "
        "AND k.lft <= ck.lft AND k.rght >= ck.rght)) AND (b.team_id IS NULL OR b.team_id IN "
        f"(SELECT g.group_id FROM {user_groups} g WHERE g.user_id = %s)) "
        "AND (b.period <> %s OR (b.start_date <= %s AND b.end_date >= %s))"
        f"{ignored} ORDER BY b.id"
    )


def matching_budgets(
    *,
    unit_id: int,
    category_id: int | None,
    tags: Mapping[str, str] | None,
    submitter_id: int | None,
    day: date,
    include_ignored: bool = True,
) -> list[Budget]:
    """Active budgets whose scope covers a cost with these attributes, by id.

    A budget covers the cost when its unit is the cost's unit or an ancestor, its category
    (if any) is the cost's category or an ancestor, every pair of its tag filter is among the
    cost's tags, its team (if any) contains the submitter, and (for a custom budget) its
    range contains ``day``. One statement (it runs in every submission); each budget comes
    with the tree ranges of its unit and category that the spend aggregate needs.
    """
    day_param = connection.ops.adapt_datefield_value(day)
    params = [unit_id, category_id, True, submitter_id, Budget.Period.CUSTOM, day_param]
    params.append(day_param)
    if not include_ignored:
        params.append(Budget.Action.IGNORE)
    tags = tags or {}
    found = []
    for budget in Budget.objects.raw(_matching_sql(include_ignored), params):
        if not _tags_match(budget.tags_filter or {}, tags):
            continue
        budget.organization_unit = OrganizationUnit(
            pk=budget.organization_unit_id,
            tree_id=budget._u_tree,
            lft=budget._u_lft,
            rght=budget._u_rght,
        )
        if budget.category_id is not None:
            budget.category = CostCategory(
                pk=budget.category_id,
                tree_id=budget._k_tree,
                lft=budget._k_lft,
                rght=budget._k_rght,
            )
        found.append(budget)
    return found


# --- spend (the aggregate itself is in budgets.spend) ---------------------------------------


def _unit_ids_in_subtree(unit: OrganizationUnit):
    return OrganizationUnit.objects.filter(
        tree_id=unit.tree_id, lft__gte=unit.lft, rght__lte=unit.rght
    ).values("pk")


def _category_ids_in_subtree(category: CostCategory):
    return CostCategory.objects.filter(
        tree_id=category.tree_id, lft__gte=category.lft, rght__lte=category.rght
    ).values("pk")


def budget_costs(
    budget: Budget, period: periods.Period, *, exclude_cost_id: int | None = None
) -> QuerySet[Cost]:
    """Pending and approved costs in the budget's scope and period: the rows that
    ``spend_by_budget`` sums (for drill-down lists and cross-checks)."""
    qs = Cost.objects.filter(
        organization_unit_id__in=_unit_ids_in_subtree(budget.organization_unit),
        status__in=[Cost.Status.APPROVED, Cost.Status.PENDING],
    )
    if budget.category_id is not None:
        qs = qs.filter(category_id__in=_category_ids_in_subtree(budget.category))
    if budget.team_id is not None:
        members = User.groups.through.objects.filter(group_id=budget.team_id).values("user_id")
        qs = qs.filter(submitted_by_id__in=members)
    if budget.tags_filter:
        if connection.vendor == "postgresql":
            qs = qs.filter(tags__contains=budget.tags_filter)
        else:
            for index, (key, value) in enumerate(sorted(budget.tags_filter.items())):
                alias = f"_tag_{index}"
                qs = qs.alias(**{alias: KeyTextTransform(key, "tags")}).filter(**{alias: value})
    if period.hourly:
        qs = qs.alias(_at=Coalesce("submitted_at", "created_at")).filter(
            _at__gte=period.start, _at__lt=period.end
        )
    else:
        qs = qs.filter(incurred_on__gte=period.first_day, incurred_on__lte=period.last_day)
    if exclude_cost_id is not None:
        qs = qs.exclude(pk=exclude_cost_id)
    return qs


def _latest_rate(currency: str, day: date) -> Decimal | None:
    rate = (
        ExchangeRate.objects.filter(currency=currency, date__lte=day)
        .order_by("-date")
        .values_list("rate", flat=True)
        .first()
    )
    if rate is None:
        rate = (
            ExchangeRate.objects.filter(currency=currency, date__gt=day)
            .order_by("date")
            .values_list("rate", flat=True)
            .first()
        )
    return rate


def convert(
    *,
    amount: Decimal,
    currency: str,
    to_currency: str,
    day: date,
    amount_reporting: Decimal | None = None,
    to_rate: Decimal | None = None,
) -> Decimal:
    """An amount in ``to_currency`` by the same rule as the spend aggregate (unrounded).

    ``to_rate`` is ``to_currency``'s rate on ``day`` when the caller already has it.
    Raises ``MissingExchangeRate`` when a needed rate has never been loaded.
    """
    if currency == to_currency:
        return Decimal(amount)
    reporting = reporting_currency()
    if amount_reporting is None:
        if currency == reporting:
            amount_reporting = Decimal(amount)
        else:
            rate = _latest_rate(currency, day)
            if rate is None:
                raise MissingExchangeRate(f"No exchange rate for {currency} has been loaded.")
            amount_reporting = Decimal(amount) * rate
    if to_currency == reporting:
        return amount_reporting
    rate = to_rate if to_rate is not None else _latest_rate(to_currency, day)
    if rate is None:
        raise MissingExchangeRate(f"No exchange rate for {to_currency} has been loaded.")
    return amount_reporting / rate


# --- utilisation ---------------------------------------------------------------------------


def percent(part: Decimal, whole: Decimal) -> Decimal:
    if not whole:
        return ZERO
    return (part * HUNDRED / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class ConversionGap:
    """Spend of a budget that cannot be converted into its currency: no rate of ``currency``
    has ever been loaded, and costs in other currencies from ``first_day`` on fall in the
    period. Until a rate is loaded the budget's spend is unknown."""

    currency: str
    first_day: date

    @property
    def message(self) -> str:
        return (
            f"No exchange rate for {self.currency} has been loaded: costs in other currencies "
            f"from {self.first_day.isoformat()} cannot be converted, so the spend is unknown."
        )

    def as_dict(self) -> dict:
        return {
            "code": "no_exchange_rate",
            "currency": self.currency,
            "first_day": self.first_day.isoformat(),
            "message": self.message,
        }


# Before a tenth of the period has passed a run-rate says little; forecasts wait until then.
FORECAST_MIN_ELAPSED = Decimal("0.1")


@dataclass(frozen=True)
class Utilisation:
    """A budget's use of one period, in the budget's currency.

    ``spent`` is what counts against the budget: actual, plus committed when the budget
    counts pending costs. ``forecast`` extrapolates ``spent`` to the end of the period at
    the run-rate so far; it is ``None`` ("too early to forecast") until a tenth of the period
    has passed (``FORECAST_MIN_ELAPSED``): two days of a month say little about its end.
    With a ``conversion_gap`` the figures leave out the costs that could not be converted:
    ``as_dict`` and the pages show the spend as unknown instead.
    """

    budget: Budget
    period: periods.Period
    amount: Decimal
    actual: Decimal
    committed: Decimal
    spent: Decimal
    remaining: Decimal
    utilization_pct: Decimal
    forecast: Decimal | None
    forecast_pct: Decimal | None
    elapsed_pct: Decimal
    conversion_gap: ConversionGap | None = None

    @property
    def bar_class(self) -> str:
        if self.conversion_gap is not None:
            return "unknown"
        if self.utilization_pct > 100:
            return "red"
        if self.utilization_pct > 80:
            return "amber"
        return ""

    @property
    def bar_width(self) -> Decimal:
        return min(self.utilization_pct, HUNDRED)

    @property
    def forecast_marker(self) -> Decimal | None:
        return None if self.forecast_pct is None else min(self.forecast_pct, HUNDRED)

    def as_dict(self) -> dict:
        """JSON shape; the spend figures are ``null`` when some spend cannot be converted
        (``conversion_error`` says which currency and from which day)."""
        start, end = self.period.as_labels()
        gap = self.conversion_gap
        figures = {
            name: None if gap is not None or (value := getattr(self, name)) is None else str(value)
            for name in (
                "actual",
                "committed",
                "spent",
                "remaining",
                "utilization_pct",
                "forecast",
                "forecast_pct",
            )
        }
        return {
            "period_start": start,
            "period_end": end,
            "currency": self.budget.currency,
            "amount": str(self.amount),
            **figures,
            "elapsed_pct": str(self.elapsed_pct),
            "conversion_error": gap.as_dict() if gap is not None else None,
        }


def build_utilisation(
    budget: Budget,
    period: periods.Period,
    actual: Decimal,
    committed: Decimal,
    *,
    now: datetime,
    unconverted_from: date | None = None,
) -> Utilisation:
    spent = actual + committed if budget.include_pending else actual
    fraction = period.elapsed_fraction(now)
    amount = round_money(budget.amount, budget.currency)
    forecast = forecast_pct = None
    if fraction >= FORECAST_MIN_ELAPSED:
        forecast = round_money(spent / fraction, budget.currency)
        forecast_pct = percent(forecast, amount)
    return Utilisation(
        budget=budget,
        period=period,
        amount=amount,
        actual=actual,
        committed=committed,
        spent=spent,
        remaining=amount - spent,
        utilization_pct=percent(spent, amount),
        forecast=forecast,
        forecast_pct=forecast_pct,
        elapsed_pct=(fraction * HUNDRED).quantize(Decimal("0.01")),
        conversion_gap=(
            ConversionGap(currency=budget.currency, first_day=unconverted_from)
            if unconverted_from is not None
            else None
        ),
    )


def budget_utilisations(
    budgets: Iterable[Budget], *, on: date | datetime | None = None, now: datetime | None = None
) -> dict[int, Utilisation]:
    """Utilisation of each budget for its period containing ``on`` (default now), in one
    query whatever the number of budgets."""
    now = now or timezone.now()
    pairs = [(b, display_period(b, on if on is not None else now)) for b in budgets]
    spend = spend_by_budget(pairs)
    return {
        b.pk: build_utilisation(
            b,
            p,
            spend[b.pk].actual,
            spend[b.pk].committed,
            now=now,
            unconverted_from=spend[b.pk].unconverted_from,
        )
        for b, p in pairs
    }


def budget_utilization(
    budget: Budget, *, on: date | datetime | None = None, now: datetime | None = None
) -> Utilisation:
    """One budget's utilisation for the period containing ``on`` (default now)."""
    return budget_utilisations([budget], on=on, now=now)[budget.pk]


def my_budget_bars(*, user, on: date | None = None) -> list[Utilisation]:
    """Utilisation of the active budgets that concern ``user`` (for dashboards): one query for
    the budgets, one for all their spend."""
    budgets = list(my_budgets(user=user))
    utils = budget_utilisations(budgets, on=on)
    return [utils[b.pk] for b in budgets]


def visible_budget_bars(*, user, on: date | None = None) -> list[Utilisation]:
    budgets = list(budget_list(user=user).filter(active=True))
    utils = budget_utilisations(budgets, on=on)
    return [utils[b.pk] for b in budgets]
