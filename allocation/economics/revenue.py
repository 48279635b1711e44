"""Reads of product revenue, scoped like the product nodes they belong to."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.db.models import QuerySet, Sum

from ..models import Revenue
from ..selectors import _visible_node_ids, sees_all_nodes


def revenue_list(*, user=None) -> QuerySet[Revenue]:
    """Revenue rows ``user`` may read (those of the product nodes they see), newest first."""
    qs = Revenue.objects.select_related("node", "created_by")
    if not sees_all_nodes(user):
        qs = qs.filter(node_id__in=_visible_node_ids(user))
    return qs.order_by("-date", "node__name", "grain", "id")


def revenue_totals(
    *, start: date, end: date, node_ids: Iterable[int] | None = None, user=None
) -> dict[int, Decimal]:
    """Revenue in the reporting currency per node from ``start`` to ``end`` (inclusive; a
    month's figure counts when its first day is in the range). One query."""
    qs = Revenue.objects.filter(date__gte=start, date__lte=end)
    if node_ids is not None:
        qs = qs.filter(node_id__in=list(node_ids))
    if not sees_all_nodes(user):
        qs = qs.filter(node_id__in=_visible_node_ids(user))
    rows = qs.values("node_id").annotate(total=Sum("amount_reporting")).order_by()
    return {r["node_id"]: r["total"] for r in rows}
