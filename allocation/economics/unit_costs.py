"""Unit economics: a product's cost per unit of a usage metric (per 1,000 requests, per user,
per GB), from the usage records the allocation already holds (``UsageRecord``).

The cost is the product's holistic cost in a run (all it incurs or receives, every
dimension, before it passes any on); the quantity is the sum of its usage of the metric in
the run's period (every dimension). cost_per_unit = cost × per / quantity, rounded
half-even to four decimals (``None`` without usage). ``per`` defaults to 1,000 for request-
like metrics (``requests``, ``queries``, ``api_calls``) and 1 for the others.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from costtrack.core.money import round_money

from ..models import AllocationResult, AllocationRun, CostNode, UsageRecord
from ..selectors import _visible_node_ids, sees_all_nodes

ZERO = Decimal(0)
UNIT_COST_QUANTUM = Decimal("0.0001")
PER_THOUSAND = {"requests", "queries", "api_calls"}
MAX_MONTHS = 36


def default_per(metric: str) -> int:
    return 1000 if metric in PER_THOUSAND else 1


def per_label(metric: str, per: int) -> str:
    """``per 1,000 requests``, ``per 1 storage_gb``."""
    return f"per {per:,} {metric}"


def cost_per_unit(cost: Decimal | None, quantity: Decimal, per: int) -> Decimal | None:
    if cost is None or not quantity:
        return None
    return (cost * per / quantity).quantize(UNIT_COST_QUANTUM, rounding=ROUND_HALF_EVEN)


def _month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def unit_costs(
    *, run: AllocationRun, metric: str, per: int | None = None, user=None
) -> dict[str, Any]:
    """Each product's (that ``user`` sees) cost per ``per`` units of ``metric`` in ``run``
    (two queries): the products with cost or usage of the metric, by name."""
    per = per or default_per(metric)
    results = AllocationResult.objects.filter(
        run_id=run.rows_run_id, node__kind=CostNode.Kind.PRODUCT
    )
    usage = UsageRecord.objects.filter(
        node__kind=CostNode.Kind.PRODUCT,
        metric=metric,
        date__gte=run.period_start,
        date__lte=run.period_end,
    )
    if not sees_all_nodes(user):
        visible = _visible_node_ids(user)
        results = results.filter(node_id__in=visible)
        usage = usage.filter(node_id__in=visible)
    costs = {
        r["node_id"]: (r["node__name"], r["cost"])
        for r in results.values("node_id", "node__name").annotate(cost=Sum("holistic")).order_by()
    }
    quantities = {
        r["node_id"]: (r["node__name"], r["quantity"])
        for r in usage.values("node_id", "node__name").annotate(quantity=Sum("quantity")).order_by()
    }
    rows = []
    for node in costs.keys() | quantities.keys():
        name = (costs.get(node) or quantities[node])[0]
        cost = costs[node][1] if node in costs else ZERO
        quantity = quantities[node][1] if node in quantities else ZERO
        rows.append(
            {
                "node": node,
                "name": name,
                "cost": round_money(cost, run.currency),
                "quantity": quantity,
                "cost_per_unit": cost_per_unit(cost, quantity, per),
            }
        )
    rows.sort(key=lambda r: (r["name"], r["node"]))
    return {
        "run": run.pk,
        "period_start": run.period_start,
        "period_end": run.period_end,
        "currency": run.currency,
        "metric": metric,
        "per": per,
        "label": per_label(metric, per),
        "results": rows,
    }


def _monthly_runs(firsts: list[date]) -> dict[date, AllocationRun]:
    """The latest successful run of each calendar month (one query)."""
    found: dict[date, AllocationRun] = {}
    for run in AllocationRun.objects.filter(
        status=AllocationRun.Status.SUCCEEDED, period_start__in=firsts
    ).order_by("period_start", "-id"):
        if run.period_end == _month_end(run.period_start) and run.period_start not in found:
            found[run.period_start] = run
    return found


def latest_month(end: date | None = None) -> date:
    """The month a trend ends with: ``end``'s, else the latest monthly run's, else today's."""
    if end is not None:
        return end.replace(day=1)
    run = (
        AllocationRun.objects.filter(status=AllocationRun.Status.SUCCEEDED)
        .order_by("-period_end", "-id")
        .only("period_start")
        .first()
    )
    day = run.period_start if run is not None else timezone.localdate()
    return day.replace(day=1)


def unit_cost_trend(
    *,
    node: CostNode,
    metric: str | None = None,
    per: int | None = None,
    months: int = 12,
    end: date | None = None,
) -> dict[str, Any]:
    """A product's monthly cost and cost per unit over ``months`` months ending with
    ``end``'s month (default: the latest run's). Each month reads the latest successful run
    of exactly that calendar month (``cost`` and ``run`` are ``None`` without one). Without
    ``metric``, a series for every metric the node has usage of in the window. The caller
    has checked that the user may see ``node``. Four queries."""
    months = max(1, min(months, MAX_MONTHS))
    last = latest_month(end)
    firsts = [_add_months(last, -i) for i in range(months - 1, -1, -1)]
    runs = _monthly_runs(firsts)
    rows_runs = {first: run.rows_run_id for first, run in runs.items()}
    costs = dict(
        AllocationResult.objects.filter(run_id__in=set(rows_runs.values()), node=node)
        .values("run_id")
        .annotate(cost=Sum("holistic"))
        .order_by()
        .values_list("run_id", "cost")
    )
    usage_rows = UsageRecord.objects.filter(
        node=node, date__gte=firsts[0], date__lte=_month_end(last)
    )
    if metric:
        usage_rows = usage_rows.filter(metric=metric)
    quantities: dict[tuple[str, date], Decimal] = {}
    for row in (
        usage_rows.annotate(month=TruncMonth("date"))
        .values("metric", "month")
        .annotate(quantity=Sum("quantity"))
        .order_by()
    ):
        quantities[(row["metric"], row["month"])] = row["quantity"]
    metrics = [metric] if metric else sorted({m for m, _ in quantities})
    currency = next(iter(runs.values())).currency if runs else None

    def month_cost(first: date) -> Decimal | None:
        if first not in runs:
            return None
        return round_money(costs.get(rows_runs[first], ZERO), runs[first].currency)

    points = [
        {"month": first.strftime("%Y-%m"), "run": runs[first].pk if first in runs else None,
         "cost": month_cost(first)}
        for first in firsts
    ]  # fmt: skip
    series = []
    for name in metrics:
        unit = per or default_per(name)
        series.append(
            {
                "metric": name,
                "per": unit,
                "label": per_label(name, unit),
                "points": [
                    {
                        **point,
                        "quantity": quantities.get((name, first), ZERO),
                        "cost_per_unit": cost_per_unit(
                            point["cost"], quantities.get((name, first), ZERO), unit
                        ),
                    }
                    for first, point in zip(firsts, points, strict=True)
                ],
            }
        )
    return {
        "node": node.pk,
        "name": node.name,
        "currency": currency,
        "months": points,
        "metrics": series,
    }
