"""Grouped spend read from the summary: what the reports, pages and budgets ask of costs.

``spend_rows`` answers "totals of costs of these statuses, grouped by these keys, filtered by
day range, unit subtree, resource and the user's visibility" from the summary tables in one
query: whole months come from a month table, the days at either end of the range from the
matching day table (``UNION ALL``), and the parts are merged here. It returns ``None`` when
the summary cannot answer (no status, two tag keys, a tag with resource, entity, provider or
category), and the caller reads raw costs instead.

Which table: a tag key → the tag tables; resource, entity or provider (as a key or the
resource filter) → the detail tables; grouping by unit or a unit without its subtree → the
unit tables; anything else → the tree tables, where a subtree's total is the rows of its
root unit alone (the roots of what the user may see, when no unit is given).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import DateField, F, Q, QuerySet, Sum
from django.db.models.functions import Cast, TruncMonth, TruncQuarter

from costtrack.core.roles import sees_everything
from orgunits.models import OrganizationUnit, Resource
from orgunits.selectors import subtree_q, unit_range, user_root_ranges

from .grains import DETAIL, SPENDING, TAG, TRACKED, TREE, UNIT, grain_for

ZERO = Decimal(0)
TAG_PREFIX = "tag:"
DETAIL_KEYS = {"resource", "entity", "provider"}


@dataclass(frozen=True)
class SpendFilters:
    """The filters every report shares (see ``costs.reports.report_costs``)."""

    user: Any = None
    start: date | None = None
    end: date | None = None
    unit: OrganizationUnit | None = None
    include_descendants: bool = True
    statuses: tuple[str, ...] = (SPENDING[0],)  # approved
    resource: Resource | None = None
    # Rolled-up rows of exactly these units (their subtree totals), for rollups; the caller
    # has checked that the user may see them.
    units: tuple[int, ...] | None = None
    # Direct rows of exactly these units (what each spends itself), likewise checked.
    own_units: tuple[int, ...] | None = None


def family_for(keys: Sequence[str], filters: SpendFilters) -> str | None:
    """The summary family that answers these keys and filters, or None (read raw costs)."""
    if not filters.statuses or not set(filters.statuses) <= set(TRACKED):
        return None
    if filters.units is not None:
        return TREE
    if filters.own_units is not None:
        return UNIT
    tags = [k for k in keys if k.startswith(TAG_PREFIX)]
    detail = bool(DETAIL_KEYS & set(keys)) or filters.resource is not None
    direct = "organization_unit" in keys or (
        filters.unit is not None and not filters.include_descendants
    )
    if tags:
        if len(tags) > 1 or detail or direct or "category" in keys:
            return None
        return TAG
    if detail:
        return DETAIL
    return UNIT if direct else TREE


def _month_end(first: date) -> date:
    index = first.year * 12 + first.month
    return date(index // 12, index % 12 + 1, 1) - timedelta(days=1)


def split_range(start: date | None, end: date | None):
    """``(months, days)``: the whole months inside [start, end] as (first, last) month
    starts (either end may be open; None when there are none) and the remaining days as a
    list of (first, last) day ranges (at most two: before and after the months)."""
    first = None if start is None else (start if start.day == 1 else _month_end(start) + _DAY)
    if end is None:
        last = None
    else:
        last = end.replace(day=1) if _month_end(end) == end else _prev_month(end.replace(day=1))
    if first is not None and last is not None and first > last:
        return None, [(start, end)]
    days = []
    if start is not None and start < first:
        days.append((start, first - _DAY))
    if end is not None and (last is None or end > _month_end(last)):
        days.append((_month_end(last) + _DAY, end))
    return (first, last), days


_DAY = timedelta(days=1)


def _prev_month(first: date) -> date:
    return (first - _DAY).replace(day=1)


def _contains(outer, inner) -> bool:
    return outer[0] == inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2]


def _roots_q(filters: SpendFilters) -> Q:
    """Rolled-up rows whose subtrees together cover the scope exactly once: the unit asked
    for, or the outermost units the user may see inside it (every tree root for finance)."""
    if filters.units is not None:
        return Q(organization_unit__in=list(filters.units))
    user, unit = filters.user, filters.unit
    if user is None or sees_everything(user):
        if unit is not None:
            return Q(organization_unit=unit)
        return Q(organization_unit__parent__isnull=True)
    ranges = user_root_ranges(user)
    ranges = [r for r in ranges if not any(o != r and _contains(o, r) for o in ranges)]
    if unit is not None:
        wanted = unit_range(unit)
        if any(_contains(r, wanted) for r in ranges):
            return Q(organization_unit=unit)
        ranges = [r for r in ranges if _contains(wanted, r)]
    condition = Q(pk__in=[])
    for tree_id, lft, _ in sorted(set(ranges)):
        condition |= Q(organization_unit__tree_id=tree_id, organization_unit__lft=lft)
    return condition


def _scoped(qs: QuerySet, filters: SpendFilters, *, rolled_up: bool) -> QuerySet:
    qs = qs.filter(status__in=list(filters.statuses)).exclude(entries=0)
    if rolled_up:
        return qs.filter(_roots_q(filters))
    if filters.own_units is not None:
        return qs.filter(organization_unit__in=list(filters.own_units))
    if filters.unit is not None:
        if filters.include_descendants:
            qs = qs.filter(subtree_q([unit_range(filters.unit)], "organization_unit"))
        else:
            qs = qs.filter(organization_unit=filters.unit)
    if filters.user is not None and not sees_everything(filters.user):
        qs = qs.filter(subtree_q(user_root_ranges(filters.user), "organization_unit"))
    if filters.resource is not None:
        qs = qs.filter(resource_key=filters.resource.pk)
    return qs


def _expression(key: str, time: str):
    if key.startswith(TAG_PREFIX):
        return F("tag_value")
    # Cast: a truncated date is a timestamp in SQL, which UNION ALL would make of both parts.
    if key == "month":
        return F("month") if time == "month" else Cast(TruncMonth("day"), DateField())
    if key == "quarter":
        return Cast(TruncQuarter(time), DateField())
    return F(
        {
            "organization_unit": "organization_unit_id",
            "category": "category_id",
            "resource": "resource_key",
            "entity": "entity_key",
            "provider": "resource_key",
            "currency": "currency",
            "day": "day",
            "_tag_key": "tag_key",
            "_tag_value": "tag_value",
        }[key]
    )


def _part(family: str, time: str, keys, filters: SpendFilters, time_q: Q) -> QuerySet:
    grain = grain_for(family, time)
    qs = _scoped(grain.model.objects.filter(time_q), filters, rolled_up=grain.rolled_up)
    tag = next((k for k in keys if k.startswith(TAG_PREFIX)), None)
    if tag is not None:
        qs = qs.filter(tag_key=tag[len(TAG_PREFIX) :])
    aliases = {f"g{i}": _expression(k, time) for i, k in enumerate(keys)}
    return (
        qs.annotate(**aliases)
        .values(*aliases)
        .annotate(
            amount=Sum("amount"), amount_reporting=Sum("amount_reporting"), entries=Sum("entries")
        )
        .order_by()
        # tuples (keys…, amount, amount_reporting, entries): a report reads thousands
        .values_list(*aliases, "amount", "amount_reporting", "entries")
    )


def _parts(family: str, keys, filters: SpendFilters) -> list[QuerySet]:
    if "day" in keys:
        q = Q()
        if filters.start is not None:
            q &= Q(day__gte=filters.start)
        if filters.end is not None:
            q &= Q(day__lte=filters.end)
        return [_part(family, "day", keys, filters, q)]
    months, days = split_range(filters.start, filters.end)
    parts = []
    if months is not None:
        q = Q()
        if months[0] is not None:
            q &= Q(month__gte=months[0])
        if months[1] is not None:
            q &= Q(month__lte=months[1])
        parts.append(_part(family, "month", keys, filters, q))
    if days:
        q = Q()
        for lo, hi in days:
            q |= Q(day__gte=lo, day__lte=hi)
        parts.append(_part(family, "day", keys, filters, q))
    return parts


def _fetch(
    family: str, keys: Sequence[str], filters: SpendFilters, top: int | None = None
) -> dict[tuple, list]:
    parts = _parts(family, keys, filters)
    if len(parts) == 1:
        qs = parts[0]
        if top is not None:  # one part holds whole groups: the largest can be cut in SQL
            qs = qs.order_by("-amount_reporting")[:top]
    else:
        qs = parts[0].union(*parts[1:], all=True)
    merged: dict[tuple, list] = {}
    width = len(keys)
    for row in qs:
        group = row[:width]
        got = merged.get(group)
        if got is None:  # the first part's rows are unique groups: most rows land here
            merged[group] = list(row[width:])
        else:
            got[0] += row[width]
            got[1] += row[width + 1]
            got[2] += row[width + 2]
    return merged


def _untagged(keys, tag_index: int, filters: SpendFilters, tagged: dict[tuple, list]):
    """Costs without the tag key form the ``None`` group: all costs less the tagged ones."""
    others = [k for i, k in enumerate(keys) if i != tag_index]
    totals = _fetch(family_for(others, filters), others, filters)
    for group, values in tagged.items():
        rest = tuple(v for i, v in enumerate(group) if i != tag_index)
        left = totals.get(rest)
        if left is not None:
            left[0] -= values[0]
            left[1] -= values[1]
            left[2] -= values[2]
    out = {}
    for rest, values in totals.items():
        if values[2]:
            group = list(rest)
            group.insert(tag_index, None)
            out[tuple(group)] = values
    return out


def _provider_of(resource_ids: Iterable[int]) -> dict[int, str]:
    ids = {i for i in resource_ids if i}
    return dict(Resource.objects.filter(pk__in=ids).values_list("pk", "provider")) if ids else {}


def spend_rows(
    keys: Sequence[str], filters: SpendFilters, *, largest: int | None = None
) -> list[dict[str, Any]] | None:
    """Rows ``{key: value, …, "amount", "amount_reporting", "entries"}`` grouped by ``keys``
    (which may include ``currency``; ``amount`` is only meaningful then), ordered by the key
    values with empty values last; ``None`` when the summary cannot answer.

    ``largest=N`` (one object key): at least the N groups with the largest reporting totals,
    possibly more (the caller sorts and cuts); the rest may be left out."""
    keys = list(keys)
    family = family_for(keys, filters)
    if family is None:
        return None
    cut = len(keys) == 1 and keys[0] in ("organization_unit", "category", "resource", "entity")
    top = largest * 2 + 10 if largest and cut else None  # slack for ties at the boundary
    merged = _fetch(family, keys, filters, top)
    tag_index = next((i for i, k in enumerate(keys) if k.startswith(TAG_PREFIX)), None)
    if tag_index is not None:
        merged.update(_untagged(keys, tag_index, filters, merged))
    for i, key in enumerate(keys):
        if key in ("resource", "entity"):
            merged = _regroup(merged, i, lambda v: v or None)
        elif key == "provider":
            providers = _provider_of(g[i] for g in merged)
            merged = _regroup(merged, i, lambda v, p=providers: p.get(v) if v else None)
    rows = []
    # groups without an empty value sort as they are (the key is for the few with one)
    empty = any(None in group for group in merged)
    for group in sorted(merged, key=_order) if empty else sorted(merged):
        amount, amount_reporting, entries = merged[group]
        if not entries:
            continue
        rows.append(
            {
                **dict(zip(keys, group, strict=True)),
                "amount": amount,
                "amount_reporting": amount_reporting,
                "entries": entries,
            }
        )
    return rows


def _regroup(merged: dict[tuple, list], index: int, change) -> dict[tuple, list]:
    out: dict[tuple, list] = defaultdict(lambda: [ZERO, ZERO, 0])
    for group, values in merged.items():
        new = list(group)
        new[index] = change(group[index])
        got = out[tuple(new)]
        for j in range(3):
            got[j] += values[j]
    return dict(out)


def _order(group: tuple):
    return tuple((v is None, v if v is not None else 0) for v in group)


def tag_rows(filters: SpendFilters) -> dict[str, dict[str, Decimal]]:
    """``{key: {value: total}}`` (reporting currency) over every tag, ordered by key and value
    (one query on the tag tables)."""
    merged = _fetch(TAG, ["_tag_key", "_tag_value"], filters)
    out: dict[str, dict[str, Decimal]] = {}
    for (key, value), (_, amount_reporting, entries) in sorted(merged.items()):
        if entries:
            out.setdefault(key, {})[value] = amount_reporting
    return out
