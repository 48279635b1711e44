"""Reads of costs, categories and rates, and who may see which cost.

Visibility (SPEC 2.1): finance and auditors see every cost; anyone else sees the costs they
submitted, the costs they may decide (as resolved approver or as an active delegate of it)
and the costs booked on the units they belong to, with their subtrees (which covers the
costs an approver member may decide).
"""

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from costtrack.core.exceptions import NotFound, ValidationError
from costtrack.core.money import reporting_currency
from costtrack.core.roles import is_finance, is_read_only, sees_everything
from orgunits.models import Membership, OrganizationUnit
from orgunits.selectors import active_delegators_of, subtree_q, user_root_ranges

from .models import Cost, CostCategory, CostEvent, ExchangeRate

ZERO = Decimal(0)
LIST_RELATED = (
    "category",
    "organization_unit",
    "resource",
    "entity",
    "submitted_by",
    "approver",
    "decided_by",
)


def _approver_member_ranges(user) -> list[tuple[int, int, int]]:
    cached = getattr(user, "_costtrack_approver_ranges", None)
    if cached is None:
        cached = list(
            OrganizationUnit.objects.filter(
                memberships__user=user, memberships__role=Membership.Role.APPROVER
            )
            .values_list("tree_id", "lft", "rght")
            .distinct()
        )
        user._costtrack_approver_ranges = cached
    return cached


def decidable_q(user, *, on: date | None = None) -> Q:
    """Costs routed to ``user`` for a decision, whatever their status (the submitter's own
    costs excluded): resolved approver, delegate of the approver, approver member of the unit
    or an ancestor, and for finance the costs routed to finance (no approver). Nothing for
    an auditor, who decides nothing."""
    if user is None or not user.is_authenticated or is_read_only(user):
        return Q(pk__in=[])
    condition = Q(approver=user)
    delegators = active_delegators_of(user=user, on=on or timezone.localdate())
    if delegators:
        condition |= Q(approver_id__in=delegators)
    ranges = _approver_member_ranges(user)
    if ranges:
        condition |= subtree_q(ranges, "organization_unit")
    if is_finance(user):
        condition |= Q(approver__isnull=True)
    return condition & ~Q(submitted_by=user)


def cost_visibility_q(user) -> Q:
    """The costs ``user`` may see (use with ``sees_everything`` short-circuit)."""
    if user is None or not user.is_authenticated:
        return Q(pk__in=[])
    condition = Q(submitted_by=user) | Q(approver=user)
    delegators = active_delegators_of(user=user)
    if delegators:
        condition |= Q(approver_id__in=delegators)
    ranges = user_root_ranges(user)
    if ranges:
        condition |= subtree_q(ranges, "organization_unit")
    return condition


def cost_list(*, user, filters: Mapping[str, Any] | None = None) -> QuerySet[Cost]:
    """Costs ``user`` may see, newest first, with related rows loaded (bounded queries).

    ``filters`` takes the API's query parameters (see ``costs.filters.CostFilter``); a bad
    value raises a DRF ``ValidationError``.
    """
    qs = Cost.objects.select_related(*LIST_RELATED)
    if not sees_everything(user):
        qs = qs.filter(cost_visibility_q(user))
    qs = qs.order_by("-incurred_on", "-id")
    if filters:
        from .filters import CostFilter

        filterset = CostFilter(data=filters, queryset=qs, user=user)
        if not filterset.is_valid():
            from rest_framework.exceptions import ValidationError

            raise ValidationError(filterset.errors)
        qs = filterset.qs
    return qs


def cost_get(*, user, cost_id: int) -> Cost:
    """One cost the user may see, or ``NotFound`` (also for another unit's cost)."""
    cost = cost_list(user=user).filter(pk=cost_id).first()
    if cost is None:
        raise NotFound("No such cost.")
    return cost


def cost_event_list(*, user) -> QuerySet[CostEvent]:
    """The audit-trail rows of the costs ``user`` may see (``cost_list``), newest first,
    with cost and actor loaded."""
    qs = CostEvent.objects.select_related("cost", "actor")
    if not sees_everything(user):
        qs = qs.filter(cost__in=Cost.objects.filter(cost_visibility_q(user)).values("pk"))
    return qs.order_by("-at", "-id")


def cost_events(cost: Cost) -> QuerySet[CostEvent]:
    return cost.events.select_related("actor").order_by("at", "id")


def cost_detail(*, user, cost_id: int) -> Cost:
    """``cost_get`` with its events (and their actors) prefetched as ``cost.events.all()``."""
    cost = (
        cost_list(user=user)
        .filter(pk=cost_id)
        .prefetch_related(
            Prefetch(
                "events",
                queryset=CostEvent.objects.select_related("actor").order_by("at", "id"),
            )
        )
        .first()
    )
    if cost is None:
        raise NotFound("No such cost.")
    return cost


def costs_awaiting(user, *, on: date | None = None) -> QuerySet[Cost]:
    """Pending costs waiting for ``user``'s decision (the approval inbox), oldest first.

    As resolved approver, as active delegate of the approver, as approver member of the unit
    or an ancestor; finance sees the costs routed to finance. Never the user's own costs.
    A constant number of queries (two or three to build the condition, one for the rows).
    """
    return (
        Cost.objects.select_related(*LIST_RELATED)
        .filter(status=Cost.Status.PENDING)
        .filter(decidable_q(user, on=on))
        .order_by("submitted_at", "id")
    )


def category_list() -> QuerySet[CostCategory]:
    return CostCategory.objects.select_related("parent").order_by("tree_id", "lft")


def category_paths() -> dict[int, str]:
    """``{id: "Expenses:Cloud:Compute"}`` for every category, in one query."""
    names: dict[int, tuple[str, int | None]] = {
        pk: (name, parent)
        for pk, name, parent in CostCategory.objects.values_list("pk", "name", "parent_id")
    }
    paths: dict[int, str] = {}

    def path(pk: int) -> str:
        if pk not in paths:
            name, parent = names[pk]
            paths[pk] = f"{path(parent)}:{name}" if parent in names else name
        return paths[pk]

    for pk in names:
        path(pk)
    return paths


def category_with_descendants_q(category: CostCategory, prefix: str = "category") -> Q:
    """Costs (through ``prefix``) in ``category`` or any of its subcategories."""
    return Q(
        **{
            f"{prefix}__tree_id": category.tree_id,
            f"{prefix}__lft__gte": category.lft,
            f"{prefix}__rght__lte": category.rght,
        }
    )


def exchange_rate_list() -> QuerySet[ExchangeRate]:
    return ExchangeRate.objects.order_by("currency", "-date")


# --- seed 001: summary and total of approved spend ---------------------------------------

SUMMARY_PERIODS = ("hourly", "daily", "weekly", "monthly", "annual")


def summary_window(period: str, *, today: date | None = None) -> tuple[date, date]:
    """The current ``period`` as inclusive days. Costs are dated by day, so ``hourly`` and
    ``daily`` both mean today; ``weekly`` starts on Monday; ``annual`` is the fiscal year
    (``FISCAL_YEAR_START_MONTH``)."""
    from django.conf import settings

    today = today or timezone.localdate()
    if period in ("hourly", "daily"):
        return today, today
    if period == "weekly":
        start = today - timedelta(days=today.weekday())
        return start, start + timedelta(days=6)
    if period == "monthly":
        start = today.replace(day=1)
        return start, _add_months(start, 1) - timedelta(days=1)
    if period == "annual":
        month = settings.FISCAL_YEAR_START_MONTH
        year = today.year if today.month >= month else today.year - 1
        start = date(year, month, 1)
        return start, _add_months(start, 12) - timedelta(days=1)
    raise ValidationError(
        f"Unknown period '{period}'. Use one of {', '.join(SUMMARY_PERIODS)}.", field="period"
    )


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _as_day(value) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return date.fromisoformat(str(value))


def _summary_costs(*, user, period, start, end, category=None) -> tuple[QuerySet, date, date]:
    if period is not None:
        start, end = summary_window(period)
    start, end = _as_day(start), _as_day(end)
    if start and end and end < start:
        raise ValidationError("The end is before the start.", field="end")
    qs = (cost_list(user=user) if user is not None else Cost.objects.all()).filter(
        status=Cost.Status.APPROVED
    )
    if start:
        qs = qs.filter(incurred_on__gte=start)
    if end:
        qs = qs.filter(incurred_on__lte=end)
    if category is not None:
        if not isinstance(category, CostCategory):
            lookup = {"pk": category} if str(category).isdigit() else {"slug": category}
            category = CostCategory.objects.filter(**lookup).first()
            if category is None:
                raise ValidationError("Unknown category.", field="category")
        qs = qs.filter(category_with_descendants_q(category))
    return qs.order_by(), start, end


def cost_summary(
    *,
    period: str | None = None,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    user=None,
) -> dict[str, Any]:
    """Seed 001's ``get_summary``: approved spend in the reporting currency.

    ``period`` (hourly|daily|weekly|monthly|annual, the current one) or ``start``/``end``
    (inclusive days; either may be open); ``user`` limits it to the costs they may see
    (``None``: every cost). Returns ``{"total", "by_category" {slug: total}, "by_resource"
    {resource name: total}, "by_tag" {key: {value: total}}, "entry_count", "period_start",
    "period_end", "currency"}`` with Decimal totals. Four queries whatever the row count.
    """
    qs, start, end = _summary_costs(user=user, period=period, start=start, end=end)
    return summarise_costs(qs, start=start, end=end)


def summarise_costs(qs: QuerySet[Cost], *, start, end) -> dict[str, Any]:
    """Seed 001's CostSummary of the costs in ``qs`` (reporting currency, four queries):
    ``total``, ``by_category`` {slug: total}, ``by_resource`` {resource name: total; a
    repeated name gets its id}, ``by_tag`` {key: {value: total}}, ``entry_count``,
    ``period_start``, ``period_end``, ``currency``."""
    head = qs.aggregate(total=Sum("amount_reporting"), count=Count("id"))
    by_category = {
        row["category__slug"]: row["total"]
        for row in qs.values("category__slug")
        .annotate(total=Sum("amount_reporting"))
        .order_by("category__slug")
    }
    by_resource: dict[str, Decimal] = {}
    for row in (
        qs.filter(resource__isnull=False)
        .values("resource_id", "resource__name")
        .annotate(total=Sum("amount_reporting"))
        .order_by("resource__name", "resource_id")
    ):
        name = row["resource__name"]
        if name in by_resource:
            name = f"{name} (#{row['resource_id']})"
        by_resource[name] = row["total"]
    return {
        "total": head["total"] or ZERO,
        "by_category": by_category,
        "by_resource": by_resource,
        "by_tag": tag_totals(qs),
        "entry_count": head["count"],
        "period_start": start,
        "period_end": end,
        "currency": reporting_currency(),
    }


_TAG_TOTALS_HEAD = "SELECT kv.key, kv.value, SUM(sub.amount_reporting) FROM ("
_TAG_TOTALS_TAIL = (
    ") AS sub CROSS JOIN LATERAL jsonb_each_text(sub.tags) AS kv "
    "GROUP BY kv.key, kv.value ORDER BY kv.key, kv.value"
)


def tag_totals(qs: QuerySet[Cost]) -> dict[str, dict[str, Decimal]]:
    """``{key: {value: total}}`` over every tag of the costs in ``qs``, in one query.

    PostgreSQL expands the tags with ``jsonb_each_text``; the embedded SQLite mode sums the
    (few) rows in Python instead.
    """
    out: dict[str, dict[str, Decimal]] = {}
    if connection.vendor != "postgresql":
        for tags, amount in qs.exclude(tags={}).values_list("tags", "amount_reporting"):
            for key, value in sorted((tags or {}).items()):
                values = out.setdefault(key, {})
                values[value] = values.get(value, ZERO) + amount
        return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}
    inner, params = qs.values("tags", "amount_reporting").query.sql_with_params()
    # Django compiles ``inner`` (placeholders, with params passed separately): no user text
    # is interpolated into the statement.
    sql = " ".join([_TAG_TOTALS_HEAD, inner, _TAG_TOTALS_TAIL])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for key, value, total in cursor.fetchall():
            out.setdefault(key, {})[value] = total
    return out


def cost_total(
    *,
    period: str | None = None,
    category: CostCategory | str | int | None = None,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    user=None,
) -> Decimal:
    """Seed 001's ``get_total``: approved spend in the reporting currency, optionally in a
    category (with its subcategories) and for the current ``period`` or a day range."""
    qs, _, _ = _summary_costs(user=user, period=period, start=start, end=end, category=category)
    return qs.aggregate(total=Sum("amount_reporting"))["total"] or ZERO
