"""Reads of the allocation app: the graph, usage, runs, and the reports on a run.

The cost graph and allocation results are an organisation-wide view: every signed-in user
may read them (the API lets only finance change them). Report functions return plain data
built from a bounded number of queries, whatever the size of the run.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from costtrack.core.exceptions import NotFound, ValidationError

from . import engine
from .models import (
    AllocationEdge,
    AllocationFlow,
    AllocationResult,
    AllocationRun,
    CostNode,
    UsageRecord,
)

MAX_EXPLAIN_PATHS = 100


def parse_period(value: str) -> tuple[date, date]:
    """``"2025-03"`` → (1 March 2025, 31 March 2025). Raises ``ValidationError``."""
    try:
        year, month = (int(part) for part in value.split("-"))
        last = calendar.monthrange(year, month)[1]
        return date(year, month, 1), date(year, month, last)
    except (ValueError, AttributeError, calendar.IllegalMonthError):
        raise ValidationError(
            f"Give the period as YYYY-MM (e.g. 2025-03), not {value!r}.", field="period"
        ) from None


def node_list(*, user=None) -> QuerySet[CostNode]:
    return CostNode.objects.select_related("resource", "entity", "organization_unit").order_by(
        "name", "id"
    )


def edge_list(*, user=None) -> QuerySet[AllocationEdge]:
    return AllocationEdge.objects.select_related("parent", "child").order_by(
        "parent_id", "child_id"
    )


def usage_list(*, user=None) -> QuerySet[UsageRecord]:
    return UsageRecord.objects.select_related("node").order_by("-date", "node_id", "metric", "id")


def run_list(*, user=None) -> QuerySet[AllocationRun]:
    return AllocationRun.objects.select_related("created_by").order_by("-period_start", "-id")


def run_get(*, run_id, user=None) -> AllocationRun:
    try:
        return run_list(user=user).get(pk=int(run_id))
    except (AllocationRun.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such allocation run.") from None


def latest_run(*, user=None) -> AllocationRun | None:
    return (
        run_list(user=user)
        .filter(status=AllocationRun.Status.SUCCEEDED)
        .order_by("-period_end", "-id")
        .first()
    )


def run_results(*, run: AllocationRun) -> QuerySet[AllocationResult]:
    return (
        AllocationResult.objects.filter(run=run)
        .select_related("node")
        .order_by("node__name", "node_id", "dimension")
    )


def run_flows(*, run: AllocationRun) -> QuerySet[AllocationFlow]:
    return (
        AllocationFlow.objects.filter(run=run)
        .select_related("from_node", "to_node")
        .order_by("from_node__name", "to_node__name", "dimension", "id")
    )


def reconciliation(*, run: AllocationRun, top: int = 50) -> dict[str, Any]:
    """Raw infrastructure cost, what reached final cost centres, what did not, and why."""
    inv = run.invariants or {}
    unallocated = (
        AllocationResult.objects.filter(run=run)
        .filter((~Q(node__kind=CostNode.Kind.PRODUCT) & ~Q(retained=0)) | ~Q(carried_forward=0))
        .values("node_id", "node__name", "node__kind")
        .annotate(retained=Sum("retained"), carried_forward=Sum("carried_forward"))
        .order_by("-retained", "node__name")[:top]
    )
    return {
        "run": run.pk,
        "period_start": run.period_start,
        "period_end": run.period_end,
        "status": run.status,
        "currency": run.currency,
        "raw_infrastructure_cost": run.raw_total,
        "allocated_to_final_cost_centres": run.allocated_total,
        "unallocated": run.unallocated_total,
        "carried_forward": run.carried_forward_total,
        "carried_in": inv.get("carried_in", "0"),
        "coverage": run.coverage,
        "conservation_delta": Decimal(inv.get("conservation_delta", "0")),
        "ledger_balanced": inv.get("ledger_balanced", True),
        "violations": inv.get("violations", []),
        "unallocated_by_node": [
            {
                "node": row["node_id"],
                "name": row["node__name"],
                "kind": row["node__kind"],
                "amount": (
                    row["retained"]
                    if row["node__kind"] != CostNode.Kind.PRODUCT
                    else row["carried_forward"]
                ),
                "carried_forward": row["carried_forward"],
            }
            for row in unallocated
        ],
    }


def product_costs(*, run: AllocationRun) -> list[dict[str, Any]]:
    """Each product's direct, received and holistic cost and what it keeps (one query)."""
    rows = (
        AllocationResult.objects.filter(run=run, node__kind=CostNode.Kind.PRODUCT)
        .values("node_id", "node__name")
        .annotate(
            direct=Sum("direct"),
            received=Sum("received"),
            holistic=Sum("holistic"),
            retained=Sum("retained"),
            carried_forward=Sum("carried_forward"),
            dimensions=Count("id"),
        )
        .order_by("-retained", "node__name")
    )
    return [
        {
            "node": r["node_id"],
            "name": r["node__name"],
            "direct": r["direct"],
            "received": r["received"],
            "holistic": r["holistic"],
            "final": r["retained"] - r["carried_forward"],
        }
        for r in rows
    ]


def _origins(
    target: int,
    dimension: str,
    direct: dict[tuple[int, str], int],
    incoming: dict[tuple[int, str], list[tuple[int, int]]],
) -> dict[tuple[int, ...], int]:
    """The paths (source … target) by which ``target`` holds its amount, in minor units.

    A parent's amount reaching the child by a flow is attributed back to the parent's own
    origins in proportion, by largest remainder, so the paths sum exactly to the holistic.
    Ancestors are visited parents first (no recursion, so deep graphs are fine); a node with
    more than ``MAX_EXPLAIN_PATHS`` paths keeps the largest and folds the rest into one.
    """
    ancestors = {target}
    stack = [target]
    while stack:
        for parent, _ in incoming.get((stack.pop(), dimension), ()):
            if parent not in ancestors:
                ancestors.add(parent)
                stack.append(parent)
    pending = {n: len({p for p, _ in incoming.get((n, dimension), ())}) for n in ancestors}
    children: dict[int, list[int]] = defaultdict(list)
    for n in ancestors:
        for parent in {p for p, _ in incoming.get((n, dimension), ())}:
            children[parent].append(n)
    ready = sorted(n for n, count in pending.items() if count == 0)
    origins: dict[int, dict[tuple[int, ...], int]] = {}
    while ready:
        node = ready.pop()
        paths: dict[tuple[int, ...], int] = {}
        own = direct.get((node, dimension), 0)
        if own:
            paths[(node,)] = own
        for parent, amount in incoming.get((node, dimension), ()):
            upstream = origins[parent]
            keys = sorted(upstream)
            weights = [abs(upstream[k]) for k in keys]
            if not any(weights):
                paths[(parent, node)] = paths.get((parent, node), 0) + amount
                continue
            for key, part in zip(keys, engine.split_by_weights(amount, weights), strict=True):
                if part:
                    path = (*key, node)
                    paths[path] = paths.get(path, 0) + part
        if len(paths) > MAX_EXPLAIN_PATHS:
            ranked = sorted(paths.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
            paths = dict(ranked[: MAX_EXPLAIN_PATHS - 1])
            paths[(-1, node)] = sum(v for _, v in ranked[MAX_EXPLAIN_PATHS - 1 :])
        origins[node] = paths
        for child in children.get(node, ()):
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
    return origins.get(target, {})


def explain_node(*, run: AllocationRun, node: CostNode) -> dict[str, Any]:
    """The paths and amounts by which ``node`` got its cost in ``run`` (four queries).

    Each path runs from the node where the cost was incurred to ``node``; the amounts of a
    dimension's paths sum exactly to the node's holistic cost in that dimension.
    """
    scale = Decimal(10) ** 8
    results = list(AllocationResult.objects.filter(run=run, node=node).order_by("dimension"))
    dimensions = [r.dimension for r in results]
    flows = AllocationFlow.objects.filter(run=run, dimension__in=dimensions).values_list(
        "from_node_id", "to_node_id", "dimension", "amount"
    )
    directs = (
        AllocationResult.objects.filter(run=run, dimension__in=dimensions)
        .exclude(direct=0)
        .values_list("node_id", "dimension", "direct")
    )
    # Amounts are exact decimals with at most 8 places: integers of 10^-8 keep them exact.
    incoming: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
    for parent, child, dim, amount in flows:
        incoming[(child, dim)].append((parent, int(amount * scale)))
    direct = {(n, dim): int(amount * scale) for n, dim, amount in directs}
    per_dim = {dim: _origins(node.pk, dim, direct, incoming) for dim in dimensions}
    ids = {n for paths in per_dim.values() for path in paths for n in path if n > 0}
    labels = list(CostNode.objects.filter(pk__in=ids).values_list("id", "name", "kind"))
    names = {n: name for n, name, _ in labels}
    kinds = {n: kind for n, _, kind in labels}
    paths_out = []
    for dim, paths in per_dim.items():
        for path, amount in sorted(paths.items(), key=lambda kv: (-kv[1], kv[0])):
            paths_out.append(
                {
                    "dimension": dim,
                    "path": [
                        {"node": n, "name": names.get(n, "other paths"), "kind": kinds.get(n)}
                        if n > 0
                        else {"node": None, "name": "other paths", "kind": None}
                        for n in path
                    ],
                    "amount": (Decimal(amount) / scale).quantize(Decimal("0.00000001")),
                    "source": names.get(path[0]) if path[0] > 0 else None,
                }
            )
    return {
        "run": run.pk,
        "node": node.pk,
        "name": node.name,
        "kind": node.kind,
        "currency": run.currency,
        "direct": sum((r.direct for r in results), Decimal(0)),
        "received": sum((r.received for r in results), Decimal(0)),
        "holistic": sum((r.holistic for r in results), Decimal(0)),
        "allocated_out": sum((r.allocated_out for r in results), Decimal(0)),
        "retained": sum((r.retained for r in results), Decimal(0)),
        "by_dimension": [
            {
                "dimension": r.dimension,
                "direct": r.direct,
                "received": r.received,
                "holistic": r.holistic,
                "allocated_out": r.allocated_out,
                "retained": r.retained,
            }
            for r in results
        ],
        "paths": paths_out,
    }
