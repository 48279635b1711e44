"""Reads of the allocation app: the graph, usage, runs, and the reports on a run.

Who sees what (SPEC 2.1): finance and auditors read everything. Anyone else sees the nodes
linked to a resource, entity or unit within the subtrees of the units they belong to
(``orgunits.selectors``), the edges and usage of those nodes, and those nodes' results,
flows and explanations; a run's organisation-wide figures (its totals and reconciliation)
are for finance and auditors. ``user=None`` is an internal caller (a command, a task) and
is not scoped. Report functions return plain data built from a bounded number of queries,
whatever the size of the run.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from costtrack.core.exceptions import NotFound, PermissionDenied, ValidationError
from costtrack.core.roles import sees_everything
from orgunits.selectors import subtree_q, user_root_ranges

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


def sees_all_nodes(user) -> bool:
    """Whether ``user`` reads the whole graph and every run's organisation-wide figures."""
    return user is None or sees_everything(user)


def _visible_node_q(user) -> Q:
    """Nodes linked to a resource, entity or unit within the user's subtrees."""
    ranges = user_root_ranges(user)
    return (
        subtree_q(ranges, "resource__organization_unit")
        | subtree_q(ranges, "entity__organization_unit")
        | subtree_q(ranges, "organization_unit")
    )


def _visible_node_ids(user) -> QuerySet:
    """The ids of the nodes ``user`` may see, as a subquery (one statement with its user)."""
    return CostNode.objects.filter(_visible_node_q(user)).values("id")


def node_list(*, user=None) -> QuerySet[CostNode]:
    qs = CostNode.objects.select_related("resource", "entity", "organization_unit")
    if not sees_all_nodes(user):
        qs = qs.filter(_visible_node_q(user))
    return qs.order_by("name", "id")


def edge_list(*, user=None) -> QuerySet[AllocationEdge]:
    """Edges; for a scoped user those from or to a node they see."""
    qs = AllocationEdge.objects.select_related("parent", "child")
    if not sees_all_nodes(user):
        visible = _visible_node_ids(user)
        qs = qs.filter(Q(parent_id__in=visible) | Q(child_id__in=visible))
    return qs.order_by("parent_id", "child_id")


def usage_list(*, user=None) -> QuerySet[UsageRecord]:
    qs = UsageRecord.objects.select_related("node")
    if not sees_all_nodes(user):
        qs = qs.filter(node_id__in=_visible_node_ids(user))
    return qs.order_by("-date", "node_id", "metric", "id")


def run_list(*, user=None) -> QuerySet[AllocationRun]:
    """Every run: which periods ran and how is no secret; a scoped user's serializer leaves
    out the organisation-wide figures (``sees_all_nodes``)."""
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


def run_results(*, run: AllocationRun, user=None) -> QuerySet[AllocationResult]:
    qs = AllocationResult.objects.filter(run_id=run.rows_run_id)
    if not sees_all_nodes(user):
        qs = qs.filter(node_id__in=_visible_node_ids(user))
    return qs.select_related("node").order_by("node__name", "node_id", "dimension")


def run_flows(*, run: AllocationRun, user=None) -> QuerySet[AllocationFlow]:
    """A run's flows; for a scoped user those from or to a node they see."""
    qs = AllocationFlow.objects.filter(run_id=run.rows_run_id)
    if not sees_all_nodes(user):
        visible = _visible_node_ids(user)
        qs = qs.filter(Q(from_node_id__in=visible) | Q(to_node_id__in=visible))
    return qs.select_related("from_node", "to_node").order_by(
        "from_node__name", "to_node__name", "dimension", "id"
    )


def reconciliation(*, run: AllocationRun, user=None, top: int = 50) -> dict[str, Any]:
    """Raw infrastructure cost, what reached final cost centres, what did not, and why.

    Organisation-wide: raises ``PermissionDenied`` for anyone but finance and auditors.
    """
    if not sees_all_nodes(user):
        raise PermissionDenied(
            "The reconciliation of a run covers the whole organisation: finance staff and "
            "auditors only."
        )
    inv = run.invariants or {}
    unallocated = (
        AllocationResult.objects.filter(run_id=run.rows_run_id)
        .filter((~Q(node__kind=CostNode.Kind.PRODUCT) & ~Q(retained=0)) | ~Q(carried_forward=0))
        .values("node_id", "node__name", "node__kind")
        .annotate(retained=Sum("retained"), carried_forward=Sum("carried_forward"))
        .order_by("-retained", "node__name")[:top]
    )
    return {
        "run": run.pk,
        "same_as": run.same_as_id,
        "period_start": run.period_start,
        "period_end": run.period_end,
        "status": run.status,
        "currency": run.currency,
        "raw_infrastructure_cost": run.raw_total,
        "allocated_to_final_cost_centres": run.allocated_total,
        "unallocated": run.unallocated_total,
        "carried_forward": run.carried_forward_total,
        "carried_in": Decimal(inv.get("carried_in", "0")),
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


def product_costs(*, run: AllocationRun, user=None) -> list[dict[str, Any]]:
    """Each product's (that ``user`` sees) direct, received and holistic cost and what it
    keeps (one query)."""
    rows = AllocationResult.objects.filter(run_id=run.rows_run_id, node__kind=CostNode.Kind.PRODUCT)
    if not sees_all_nodes(user):
        rows = rows.filter(node_id__in=_visible_node_ids(user))
    rows = (
        rows.values("node_id", "node__name")
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
    dimension's paths sum exactly to the node's holistic cost in that dimension. The caller
    has checked that the user may see ``node`` (``node_list``); its paths name the nodes
    its cost came through.
    """
    scale = Decimal(10) ** 8
    rows_run = run.rows_run_id
    results = list(
        AllocationResult.objects.filter(run_id=rows_run, node=node).order_by("dimension")
    )
    dimensions = [r.dimension for r in results]
    flows = AllocationFlow.objects.filter(run_id=rows_run, dimension__in=dimensions).values_list(
        "from_node_id", "to_node_id", "dimension", "amount"
    )
    directs = (
        AllocationResult.objects.filter(run_id=rows_run, dimension__in=dimensions)
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


def run_flow_graph(
    *, run: AllocationRun, user=None
) -> tuple[dict[int, dict[str, Any]], list[tuple[int, int, Decimal]]]:
    """The run's flows summed over dimensions, ``(from, to, amount)``, and every node they
    join with its name, kind, holistic cost and what it keeps (two queries, three for a scoped
    user). A scoped user gets the flows from or to a node they see (as ``run_flows``); the
    nodes of other units at their ends show only the amounts of those flows."""
    flow_rows = AllocationFlow.objects.filter(run_id=run.rows_run_id)
    if not sees_all_nodes(user):
        visible = _visible_node_ids(user)
        flow_rows = flow_rows.filter(Q(from_node_id__in=visible) | Q(to_node_id__in=visible))
    flows = [
        (a, b, amount)
        for a, b, amount in flow_rows.values("from_node_id", "to_node_id")
        .annotate(amount=Sum("amount"))
        .values_list("from_node_id", "to_node_id", "amount")
        .order_by("from_node_id", "to_node_id")
    ]
    ids = {n for a, b, _ in flows for n in (a, b)}
    totals = (
        AllocationResult.objects.filter(run_id=run.rows_run_id, node_id__in=ids)
        .values("node_id", "node__name", "node__kind")
        .annotate(holistic=Sum("holistic"), retained=Sum("retained"))
        .order_by("node_id")
    )
    nodes = {
        r["node_id"]: {
            "name": r["node__name"],
            "kind": r["node__kind"],
            "holistic": r["holistic"],
            "retained": r["retained"],
        }
        for r in totals
    }
    if not sees_all_nodes(user):
        # a node of another unit shows only what it passes to (or gets from) the user's
        # nodes, never its own total
        own = set(
            CostNode.objects.filter(_visible_node_q(user), pk__in=ids).values_list("id", flat=True)
        )
        shown: dict[int, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for a, b, amount in flows:
            shown[a][1] += amount
            shown[b][0] += amount
        for n, info in nodes.items():
            if n not in own:
                info["holistic"], info["retained"] = max(shown[n], key=abs), Decimal(0)
    return nodes, flows
