"""Report selectors: approved (or committed) spend aggregated by unit subtree, object and time.

Every aggregate is one SQL query over the spend summary (``costs.summary``: per day and per
month, unit, category, resource, entity, tag, currency and status), kept exact by the cost
services, so its time grows with the organisation's units and days, not with its costs. A
question the summary cannot answer (a status it does not keep, two tag keys, a tag together
with a resource or category) is one ``GROUP BY`` over raw ``costs_cost`` instead, through the
indexes made for it; ``report_costs`` is that raw path. Totals in the reporting currency are
sums of ``amount_reporting``; totals per original currency are sums of ``amount`` grouped by
``currency``. Unit subtree totals come from one grouped query of direct totals per unit,
folded up the tree in memory (children before parents), never a query per unit.

Who sees what: finance and auditors see every cost; anyone else sees the costs booked on the
units they belong to or own, with their subtrees (a report is about units, so a cost someone
merely submitted elsewhere does not appear in their rollups).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncMonth, TruncQuarter
from django.utils import timezone

from costtrack.core.exceptions import ValidationError
from costtrack.core.money import is_known_currency, reporting_currency, round_money
from costtrack.core.roles import sees_everything
from orgunits.models import Entity, OrganizationUnit, Resource
from orgunits.selectors import subtree_q, unit_range, user_root_ranges

from .models import Cost, CostCategory, CostStatus, ExchangeRate
from .selectors import summarise_costs
from .summary.read import SpendFilters, spend_rows, tag_rows

ZERO = Decimal(0)
ACTUAL = (CostStatus.APPROVED,)
OBJECT_KEYS = ("organization_unit", "entity", "resource", "category")
TIME_KEYS = ("day", "month", "quarter")
GROUP_KEYS = (*OBJECT_KEYS, "provider", "currency", *TIME_KEYS)
TAG_PREFIX = "tag:"
MAX_GROUP_KEYS = 2


# --- parameters -----------------------------------------------------------------------------
def parse_group_by(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"month,tag:team"`` → ``("month", "tag:team")``; raises ValidationError(field=group_by)."""
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else list(value)
    keys = tuple(p.strip() for p in parts if p.strip())
    if len(keys) > MAX_GROUP_KEYS:
        raise ValidationError(
            f"Group by at most {MAX_GROUP_KEYS} keys; got {len(keys)}.", field="group_by"
        )
    if len(set(keys)) != len(keys):
        raise ValidationError("Each group_by key may appear only once.", field="group_by")
    for key in keys:
        if key.startswith(TAG_PREFIX):
            if not key[len(TAG_PREFIX) :]:
                raise ValidationError("tag: needs a key, e.g. tag:team.", field="group_by")
        elif key not in GROUP_KEYS:
            raise ValidationError(
                f"Unknown group_by key '{key}'. Use {', '.join(GROUP_KEYS)} or tag:KEY.",
                field="group_by",
            )
    return keys


def _group_expression(key: str):
    if key.startswith(TAG_PREFIX):
        return KeyTextTransform(key[len(TAG_PREFIX) :], "tags")
    return {
        "organization_unit": F("organization_unit_id"),
        "entity": F("entity_id"),
        "resource": F("resource_id"),
        "category": F("category_id"),
        "provider": F("resource__provider"),
        "currency": F("currency"),
        "day": F("incurred_on"),
        "month": TruncMonth("incurred_on"),
        "quarter": TruncQuarter("incurred_on"),
    }[key]


def _as_date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value


# --- the scoped base queryset ---------------------------------------------------------------
def report_costs(
    *,
    user=None,
    start: date | None = None,
    end: date | None = None,
    unit: OrganizationUnit | None = None,
    include_descendants: bool = True,
    statuses: Iterable[str] = ACTUAL,
    resource: Resource | None = None,
) -> QuerySet[Cost]:
    """Costs a report covers: by status (approved unless told), incurred_on in [start, end],
    on ``unit`` (with its subtree unless ``include_descendants`` is false) and ``resource``,
    visible to ``user`` (``None`` means an internal caller that sees everything). Unordered,
    ready to aggregate.
    """
    qs = Cost.objects.filter(status__in=list(statuses))
    if resource is not None:
        qs = qs.filter(resource=resource)
    if start is not None:
        qs = qs.filter(incurred_on__gte=start)
    if end is not None:
        qs = qs.filter(incurred_on__lte=end)
    if unit is not None:
        if include_descendants:
            qs = qs.filter(subtree_q([unit_range(unit)], "organization_unit"))
        else:
            qs = qs.filter(organization_unit=unit)
    if user is not None and not sees_everything(user):
        qs = qs.filter(subtree_q(user_root_ranges(user), "organization_unit"))
    return qs.order_by()


# --- grouped totals -------------------------------------------------------------------------
def _grouped(qs: QuerySet[Cost], keys: Sequence[str], extra: Sequence[str] = ()):
    aliases = {f"g{i}": _group_expression(k) for i, k in enumerate(keys)}
    extra_aliases = {f"x{i}": F(name) for i, name in enumerate(extra)}
    names = [*aliases, *extra_aliases]
    return qs.annotate(**aliases, **extra_aliases).values(*names), names


def _spend_filters(filters: dict[str, Any]) -> SpendFilters:
    return SpendFilters(**{**filters, "statuses": tuple(filters.get("statuses", ACTUAL))})


def cost_totals(
    *, group_by: Sequence[str] = (), largest: int | None = None, **filters
) -> list[dict[str, Any]]:
    """Totals in the reporting currency, grouped by up to two keys (one query; two for a tag
    key, whose ``None`` group is everything less the tagged costs).

    Each row: the group values under their key names (ids for objects, dates for time keys,
    strings for provider/currency/tags; ``None`` where a cost has no such value), ``total``
    (Decimal, sum of ``amount_reporting``) and ``count``. Ordered by the group values.
    ``largest=N`` may leave out groups outside the N largest (``totals_by`` cuts anyway).
    """
    keys = parse_group_by(group_by)
    summary = spend_rows(keys, _spend_filters(filters), largest=largest)
    if summary is not None:
        if not keys:
            total = sum((r["amount_reporting"] for r in summary), ZERO)
            return [{"total": total, "count": sum(r["entries"] for r in summary)}]
        return [
            {**{k: r[k] for k in keys}, "total": r["amount_reporting"], "count": r["entries"]}
            for r in summary
        ]
    return grouped_totals(report_costs(**filters), group_by=keys)


def grouped_totals(qs: QuerySet[Cost], *, group_by: Sequence[str] = ()) -> list[dict[str, Any]]:
    """``cost_totals`` over any queryset of costs, read from the costs themselves (one
    ``GROUP BY``): the rows of ``cost_totals``, with the same keys and order. For totals the
    spend summary cannot answer, e.g. of ``cost_list`` with the cost list API's filters."""
    keys = parse_group_by(group_by)
    qs = qs.order_by()
    if not keys:
        row = qs.aggregate(total=Sum("amount_reporting"), count=Count("id"))
        return [{"total": row["total"] or ZERO, "count": row["count"]}]
    grouped, names = _grouped(qs, keys)
    rows = grouped.annotate(total=Sum("amount_reporting"), count=Count("id")).order_by(*names)
    return [
        {
            **{k: _as_date(r[f"g{i}"]) for i, k in enumerate(keys)},
            "total": r["total"],
            "count": r["count"],
        }
        for r in rows
    ]


def cost_totals_by_currency(*, group_by: Sequence[str] = (), **filters) -> list[dict[str, Any]]:
    """Totals in each original currency (sum of ``amount``), grouped like ``cost_totals``.

    Each row: the group values, ``currency``, ``amount`` (Decimal) and ``count`` (one query).
    """
    keys = tuple(k for k in parse_group_by(group_by) if k != "currency")
    summary = spend_rows([*keys, "currency"], _spend_filters(filters))
    if summary is not None:
        return [
            {**{k: r[k] for k in keys}, "currency": r["currency"], "amount": r["amount"]}
            | {"count": r["entries"]}
            for r in summary
        ]
    grouped, names = _grouped(report_costs(**filters), keys, extra=("currency",))
    rows = grouped.annotate(amount=Sum("amount"), count=Count("id")).order_by(*names)
    return [
        {
            **{k: _as_date(r[f"g{i}"]) for i, k in enumerate(keys)},
            "currency": r["x0"],
            "amount": r["amount"],
            "count": r["count"],
        }
        for r in rows
    ]


def group_labels(rows: Iterable[dict[str, Any]], keys: Sequence[str]) -> dict[str, dict]:
    """Display names for the object ids in ``rows``: one query per object key (at most two)."""
    models = {
        "organization_unit": (OrganizationUnit, "name"),
        "entity": (Entity, "name"),
        "resource": (Resource, "name"),
        "category": (CostCategory, "slug"),
    }
    rows = list(rows)
    labels: dict[str, dict] = {}
    for key in keys:
        if key in models:
            model, attr = models[key]
            ids = {r[key] for r in rows if r.get(key) is not None}
            labels[key] = dict(model.objects.filter(pk__in=ids).values_list("pk", attr))
    return labels


# --- report currency ------------------------------------------------------------------------
def report_rate(currency: str, *, on: date | None = None) -> Decimal:
    """Reporting-currency units per one unit of ``currency`` on or before ``on`` (1 for the
    reporting currency itself). Raises ValidationError(field=currency) when unknown or unrated.
    """
    code = (currency or "").upper()
    if not is_known_currency(code):
        raise ValidationError(f"Unknown currency '{currency}'.", field="currency")
    if code == reporting_currency():
        return Decimal(1)
    on = on or timezone.localdate()
    rate = (
        ExchangeRate.objects.filter(currency=code, date__lte=on)
        .order_by("-date")
        .values_list("rate", flat=True)
        .first()
    )
    if rate is None:
        raise ValidationError(
            f"No exchange rate for {code} on or before {on.isoformat()}.", field="currency"
        )
    return rate


def in_currency(amount: Decimal, *, currency: str, rate: Decimal) -> Decimal:
    """A reporting-currency amount expressed in ``currency`` at ``rate``, to its minor unit."""
    if rate == 1 and currency == reporting_currency():
        return round_money(amount, currency)
    return round_money(amount / rate, currency)


# --- unit subtree totals --------------------------------------------------------------------
def fold_subtree_totals(
    units: Sequence[tuple[int, int | None]], direct: dict[int, Any], zero: Any = ZERO
) -> dict[int, Any]:
    """Subtree totals from direct totals.

    ``units`` are ``(id, parent_id)`` in tree pre-order (``tree_id, lft``), so walking them
    backwards meets every child before its parent. Parents outside ``units`` are ignored.
    Works for any values supporting ``+`` (Decimals, or dicts via ``_add``).
    """
    present = {uid for uid, _ in units}
    totals = {uid: _copy(direct.get(uid, zero)) for uid, _ in units}
    for uid, parent_id in reversed(units):
        if parent_id in present:
            totals[parent_id] = _add(totals[parent_id], totals[uid])
    return totals


def _copy(value):
    return dict(value) if isinstance(value, dict) else value


def _add(a, b):
    if isinstance(a, dict):
        merged = dict(a)
        for k, v in b.items():
            merged[k] = merged.get(k, ZERO) + v
        return merged
    return a + b


def _scoped_units(*, user, root: OrganizationUnit | None) -> QuerySet[OrganizationUnit]:
    qs = OrganizationUnit.objects.all()
    if root is not None:
        qs = qs.filter(subtree_q([unit_range(root)]))
    if user is not None and not sees_everything(user):
        qs = qs.filter(subtree_q(user_root_ranges(user)))
    return qs.order_by("tree_id", "lft")


def direct_unit_totals(**filters) -> dict[int, Decimal]:
    """Reporting-currency totals of costs booked directly on each unit (one query)."""
    summary = spend_rows(["organization_unit"], _spend_filters(filters))
    if summary is not None:
        return {r["organization_unit"]: r["amount_reporting"] for r in summary}
    rows = (
        report_costs(**filters)
        .values("organization_unit_id")
        .annotate(total=Sum("amount_reporting"))
        .values_list("organization_unit_id", "total")
    )
    return dict(rows)


def direct_unit_totals_by_currency(**filters) -> dict[int, dict[str, Decimal]]:
    """Original-currency totals per unit: ``{unit_id: {currency: amount}}`` (one query)."""
    out: dict[int, dict[str, Decimal]] = defaultdict(dict)
    summary = spend_rows(["organization_unit", "currency"], _spend_filters(filters))
    if summary is not None:
        for r in summary:
            out[r["organization_unit"]][r["currency"]] = r["amount"]
        return dict(out)
    rows = (
        report_costs(**filters)
        .values("organization_unit_id", "currency")
        .annotate(amount=Sum("amount"))
        .values_list("organization_unit_id", "currency", "amount")
    )
    for unit_id, currency, amount in rows:
        out[unit_id][currency] = amount
    return dict(out)


def unit_subtree_totals(
    *,
    user=None,
    root: OrganizationUnit | None = None,
    start: date | None = None,
    end: date | None = None,
    statuses: Iterable[str] = ACTUAL,
) -> dict[int, tuple[Decimal, Decimal]]:
    """``{unit_id: (direct, subtree)}`` for every unit under ``root`` (all visible units when
    no root) in two queries: the units' (id, parent) and the grouped direct totals.
    """
    units = list(_scoped_units(user=user, root=root).values_list("id", "parent_id"))
    direct = direct_unit_totals(user=user, unit=root, start=start, end=end, statuses=statuses)
    subtree = fold_subtree_totals(units, direct)
    return {uid: (direct.get(uid, ZERO), subtree[uid]) for uid, _ in units}


@dataclass
class UnitRollup:
    """A unit's own (direct) total, its subtree total, and each child's subtree total."""

    unit: OrganizationUnit
    own: Decimal
    total: Decimal
    own_by_currency: dict[str, Decimal]
    total_by_currency: dict[str, Decimal]
    children: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0


def rollup(
    *,
    unit: OrganizationUnit,
    user=None,
    start: date | None = None,
    end: date | None = None,
    statuses: Iterable[str] = ACTUAL,
) -> UnitRollup:
    """Roll a unit's costs up its subtree in three queries (units, totals, totals per currency).

    ``children`` lists each direct child with ``unit``, ``total`` (its subtree, reporting
    currency) and ``total_by_currency``; the unit's own costs are ``own``. The caller checks
    that ``user`` may see ``unit``.
    """
    statuses = tuple(statuses)
    summarised = _summary_rollup(unit=unit, user=user, start=start, end=end, statuses=statuses)
    if summarised is not None:
        return summarised
    units = list(_scoped_units(user=user, root=unit).select_related("owner"))
    pairs = [(u.pk, u.parent_id) for u in units]
    filters = {"user": user, "unit": unit, "start": start, "end": end, "statuses": statuses}
    direct = direct_unit_totals(**filters)
    direct_cur = direct_unit_totals_by_currency(**filters)
    subtree = fold_subtree_totals(pairs, direct)
    subtree_cur = fold_subtree_totals(pairs, direct_cur, zero={})
    children = [
        {
            "unit": u,
            "total": subtree[u.pk],
            "total_by_currency": _sorted(subtree_cur[u.pk]),
        }
        for u in units
        if u.parent_id == unit.pk
    ]
    return UnitRollup(
        unit=unit,
        own=direct.get(unit.pk, ZERO),
        total=subtree.get(unit.pk, ZERO),
        own_by_currency=_sorted(direct_cur.get(unit.pk, {})),
        total_by_currency=_sorted(subtree_cur.get(unit.pk, {})),
        children=children,
    )


def _summary_rollup(*, unit, user, start, end, statuses) -> UnitRollup | None:
    """``rollup`` from the summary in three queries whatever the subtree's size: the
    children, the rolled-up rows of the unit and its children, and the unit's own rows."""
    children = list(_scoped_units(user=user, root=unit).filter(parent=unit).select_related("owner"))
    ids = (unit.pk, *(c.pk for c in children))
    rolled = spend_rows(
        ["organization_unit", "currency"],
        SpendFilters(start=start, end=end, statuses=statuses, units=ids),
    )
    if rolled is None:
        return None
    own = spend_rows(
        ["currency"],
        SpendFilters(
            user=user,
            start=start,
            end=end,
            unit=unit,
            include_descendants=False,
            statuses=statuses,
        ),
    )
    total: dict[int, Decimal] = defaultdict(lambda: ZERO)
    by_currency: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for r in rolled:
        total[r["organization_unit"]] += r["amount_reporting"]
        by_currency[r["organization_unit"]][r["currency"]] = r["amount"]
    return UnitRollup(
        unit=unit,
        own=sum((r["amount_reporting"] for r in own), ZERO),
        total=total[unit.pk],
        own_by_currency=_sorted({r["currency"]: r["amount"] for r in own}),
        total_by_currency=_sorted(by_currency[unit.pk]),
        children=[
            {"unit": c, "total": total[c.pk], "total_by_currency": _sorted(by_currency[c.pk])}
            for c in children
        ],
    )


def _sorted(d: dict[str, Decimal]) -> dict[str, Decimal]:
    return {k: d[k] for k in sorted(d)}


# --- the seed-001 summary -------------------------------------------------------------------
def _month_end(first: date) -> date:
    return add_months(first, 1) - timedelta(days=1)


def add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def cost_summary(
    *,
    user=None,
    start: date,
    end: date,
    unit: OrganizationUnit | None = None,
    include_descendants: bool = True,
    statuses: Iterable[str] = ACTUAL,
) -> dict[str, Any]:
    """Seed 001's CostSummary: ``total``, ``by_category`` {slug: total}, ``by_resource``
    {resource name: total}, ``by_tag`` {key: {value: total}}, ``entry_count``,
    ``period_start``, ``period_end`` — reporting currency, four queries.
    """
    filters = {
        "user": user,
        "start": start,
        "end": end,
        "unit": unit,
        "include_descendants": include_descendants,
        "statuses": tuple(statuses),
    }
    summary = summary_of_spend(_spend_filters(filters), start=start, end=end)
    if summary is not None:
        return summary
    return summarise_costs(report_costs(**filters), start=start, end=end)


def summary_of_spend(filters: SpendFilters, *, start, end) -> dict[str, Any] | None:
    """``summarise_costs`` from the spend summary (five queries), or None when the summary
    cannot answer these filters."""
    head = spend_rows([], filters)
    if head is None:
        return None
    categories = spend_rows(["category"], filters)
    slugs = dict(
        CostCategory.objects.filter(pk__in=[r["category"] for r in categories]).values_list(
            "pk", "slug"
        )
    )
    by_category = {
        slugs[r["category"]]: r["amount_reporting"]
        for r in sorted(categories, key=lambda r: slugs[r["category"]])
    }
    resources = [r for r in spend_rows(["resource"], filters) if r["resource"] is not None]
    names = dict(
        Resource.objects.filter(pk__in=[r["resource"] for r in resources]).values_list("pk", "name")
    )
    by_resource: dict[str, Decimal] = {}
    for r in sorted(resources, key=lambda r: (names[r["resource"]], r["resource"])):
        name = names[r["resource"]]
        if name in by_resource:
            name = f"{name} (#{r['resource']})"
        by_resource[name] = r["amount_reporting"]
    return {
        "total": sum((r["amount_reporting"] for r in head), ZERO),
        "by_category": by_category,
        "by_resource": by_resource,
        "by_tag": tag_rows(filters),
        "entry_count": sum(r["entries"] for r in head),
        "period_start": start,
        "period_end": end,
        "currency": reporting_currency(),
    }


def monthly_trend(*, months: int = 12, end_month: date | None = None, **filters) -> list[dict]:
    """The last ``months`` calendar months up to ``end_month`` (default: this month), each
    ``{"month": date, "total": Decimal}`` including empty months (one query).
    """
    last = (end_month or timezone.localdate()).replace(day=1)
    first = add_months(last, -(months - 1))
    filters = {**filters, "start": first, "end": _month_end(last)}
    got = {r["month"]: r["total"] for r in cost_totals(group_by=("month",), **filters)}
    return [
        {"month": m, "total": got.get(m, ZERO)}
        for m in (add_months(first, i) for i in range(months))
    ]


def totals_by(key: str, *, limit: int | None = None, **filters) -> list[dict]:
    """Totals by one key, largest first, with display labels (two queries)."""
    rows = cost_totals(group_by=(key,), largest=limit, **filters)
    rows.sort(key=lambda r: (-r["total"], str(r[key])))
    if limit:
        rows = rows[:limit]
    labels = group_labels(rows, (key,)).get(key, {})
    for r in rows:
        r["label"] = labels.get(r[key], r[key]) if r[key] is not None else "(none)"
    return rows


def top_units(
    *, user=None, start: date, end: date, limit: int = 8, max_level: int = 2
) -> list[dict]:
    """The units (below the tree roots, down to ``max_level``) with the largest subtree
    totals in [start, end], largest first: ``{"unit", "total", "own"}`` (three queries: the
    units, their rolled-up totals, the leaders' own totals)."""
    units = {
        u.pk: u
        for u in _scoped_units(user=user, root=None).filter(level__gte=1, level__lte=max_level)
    }
    rolled = spend_rows(
        ["organization_unit"], SpendFilters(start=start, end=end, units=tuple(units))
    )
    if rolled is not None:
        subtree = {r["organization_unit"]: r["amount_reporting"] for r in rolled}
        ranked = sorted(
            (uid for uid in units if subtree.get(uid)),
            key=lambda uid: (-subtree[uid], units[uid].name),
        )[:limit]
        own = spend_rows(
            ["organization_unit"], SpendFilters(start=start, end=end, own_units=tuple(ranked))
        )
        direct = {r["organization_unit"]: r["amount_reporting"] for r in own}
        totals = {uid: (direct.get(uid, ZERO), subtree[uid]) for uid in ranked}
    else:
        totals = unit_subtree_totals(user=user, start=start, end=end)
        ranked = sorted(
            (uid for uid in units if totals.get(uid, (ZERO, ZERO))[1]),
            key=lambda uid: (-totals[uid][1], units[uid].name),
        )[:limit]
    return [{"unit": units[uid], "total": totals[uid][1], "own": totals[uid][0]} for uid in ranked]


def visible_unit_q(user) -> Q:
    """Condition on ``OrganizationUnit`` rows the user may see (everything for finance)."""
    if user is None or sees_everything(user):
        return Q()
    return subtree_q(user_root_ranges(user))


# the cost list API's filters the spend summary can answer (unit subtree, resource, days)
SUMMARY_LIST_FILTERS = frozenset(
    {"organization_unit", "include_descendants", "resource", "status"}
    | {"incurred_after", "incurred_before"}
)


def list_totals(
    *, user, filters: dict[str, Any], costs: QuerySet[Cost], group_by: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Totals of ``costs`` (``costs.selectors.cost_list(user=user, filters=filters)``), as
    ``cost_totals`` rows, groups without costs left out.

    Read from the spend summary when it gives exactly the same answer: for a user who sees
    every cost and only the filters of ``SUMMARY_LIST_FILTERS`` (a subtree when a unit is
    given), whatever the statuses (every status when none is given: the summary holds them
    all); otherwise one ``GROUP BY`` over ``costs``.
    """
    keys = parse_group_by(group_by)
    given = {name for name, value in filters.items() if value not in (None, "", [], ())}
    statuses = tuple(s for s in str(filters.get("status") or "").split(",") if s)
    unit_id = filters.get("organization_unit")
    subtree = str(filters.get("include_descendants", "")).lower() in {"1", "true", "yes"}
    summary = (
        sees_everything(user)
        and given <= SUMMARY_LIST_FILTERS
        and set(statuses) <= set(CostStatus.values)
        and (not unit_id or subtree)
    )
    if not summary:
        rows = grouped_totals(costs, group_by=keys)
    else:
        resource_id = filters.get("resource")
        rows = cost_totals(
            group_by=keys,
            user=user,
            start=_day(filters.get("incurred_after")),
            end=_day(filters.get("incurred_before")),
            unit=OrganizationUnit.objects.get(pk=unit_id) if unit_id else None,
            statuses=statuses or tuple(CostStatus.values),
            resource=Resource.objects.get(pk=resource_id) if resource_id else None,
        )
    return [r for r in rows if r["count"]] if keys else rows


def _day(value) -> date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))
