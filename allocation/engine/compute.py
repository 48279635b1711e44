"""One period's allocation: results, flows, ledger, invariants, and the input fingerprint."""

from __future__ import annotations

import gc
import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any

from .datatypes import (
    ACCOUNT_CARRIED_FORWARD,
    ACCOUNT_INFRASTRUCTURE,
    ACCOUNT_NODE,
    LEDGER_COST_ALLOCATED,
    LEDGER_COST_INCURRED,
    LEDGER_LOSS_FORWARD,
    NODE_KINDS,
    PRODUCT,
    AllocationInput,
    AllocationOutcome,
    Edge,
    EngineError,
    Flow,
    Invariants,
    LedgerRow,
    NodeResult,
)
from .graph import (
    topological_order,
)
from .strategies import (
    _Allocator,
)


def _check_input(inp: AllocationInput) -> None:
    ids = set()
    for node in inp.nodes:
        if node.id in ids:
            raise EngineError(f"Node {node.id} appears twice.")
        if node.kind not in NODE_KINDS:
            raise EngineError(f"Node {node.id} has an unknown kind '{node.kind}'.", field="kind")
        ids.add(node.id)
    pairs = set()
    for edge in inp.edges:
        if edge.parent not in ids or edge.child not in ids:
            raise EngineError(f"Edge {edge.parent} → {edge.child} names an unknown node.")
        if (edge.parent, edge.child) in pairs:
            raise EngineError(f"Edge {edge.parent} → {edge.child} appears twice.")
        pairs.add((edge.parent, edge.child))
    for node_id, _dimension in inp.direct:
        if node_id not in ids:
            raise EngineError(f"A direct cost names the unknown node {node_id}.")


def allocate(inp: AllocationInput) -> AllocationOutcome:
    """Compute one period's allocation. Deterministic: the same input gives the same output.

    Raises ``CycleError`` for a cyclic graph and ``EngineError`` for inconsistent input.
    """
    # Hundreds of thousands of small result objects and no reference cycles: the cyclic
    # collector would only rescan them over and over.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _allocate(inp)
    finally:
        if collecting:
            gc.enable()


def _allocate(inp: AllocationInput) -> AllocationOutcome:
    _check_input(inp)
    names = {n.id: n.name or str(n.id) for n in inp.nodes}
    order = topological_order(names, ((e.parent, e.child) for e in inp.edges), names)
    out_edges: dict[int, list[Edge]] = defaultdict(list)
    for edge in inp.edges:
        out_edges[edge.parent].append(edge)
    for edges in out_edges.values():
        edges.sort(key=lambda e: e.child)

    allocator = _Allocator(inp)
    results: dict[tuple[int, str], NodeResult] = {}
    pending: dict[int, dict[str, int]] = defaultdict(dict)  # node -> dim -> received so far
    direct_by_node: dict[int, dict[str, int]] = defaultdict(dict)
    for (node_id, dim), amount in inp.direct.items():
        if amount:
            direct_by_node[node_id][dim] = direct_by_node[node_id].get(dim, 0) + amount
    flows: list[Flow] = []
    add_flow = flows.append
    new_tuple = tuple.__new__
    children = {parent: [e.child for e in edges] for parent, edges in out_edges.items()}

    for node_id in order:
        direct = direct_by_node.get(node_id, {})
        received = pending.pop(node_id, {})
        if not direct and not received:
            continue
        edges = out_edges.get(node_id)
        dims = (direct.keys() | received.keys()) if direct and received else (direct or received)
        for dim in sorted(dims):
            d, r = direct.get(dim, 0), received.get(dim, 0)
            holistic = d + r
            result = NodeResult(node_id, dim, direct=d, received=r, holistic=holistic)
            results[(node_id, dim)] = result
            if not edges or not holistic:
                result.retained = holistic
                continue
            split = allocator.split_parent(holistic, edges, dim)
            out = 0
            for child, part in zip(children[node_id], split.parts, strict=True):
                if part:
                    add_flow(new_tuple(Flow, (node_id, child, dim, part)))
                    child_pending = pending[child]
                    child_pending[dim] = child_pending.get(dim, 0) + part
                    out += part
            result.allocated_out = out
            result.retained = holistic - out
            result.carried_forward = split.carried

    ordered = [results[k] for k in sorted(results)]
    ledger = build_ledger(inp.direct, flows, ordered)
    kinds = {n.id: n.kind for n in inp.nodes}
    unallocated: dict[tuple[int, str], int] = {}
    final_centres = set()
    for r in ordered:
        if kinds[r.node] == PRODUCT:
            if r.retained - r.carried_forward:
                final_centres.add(r.node)
            if r.carried_forward:
                unallocated[(r.node, r.dimension)] = r.carried_forward
        elif r.retained:
            unallocated[(r.node, r.dimension)] = r.retained
    # Products that receive or hold cost and pass none of it on are final cost centres even
    # when their amount is zero; a partial roll-up keeps its residual as one too.
    for node in inp.nodes:
        if node.kind == PRODUCT and not any(
            kinds[e.child] == PRODUCT for e in out_edges.get(node.id, ())
        ):
            final_centres.add(node.id)
    outcome = AllocationOutcome(
        order=order,
        results=ordered,
        flows=flows,
        ledger=ledger,
        unallocated=unallocated,
        final_cost_centres=sorted(final_centres),
        invariants=Invariants(0, 0, 0, 0, 0, None, True, []),
    )
    outcome.invariants = check_invariants(inp, outcome)
    return outcome


def build_ledger(
    direct: Mapping[tuple[int, str], int], flows: Sequence[Flow], results: Sequence[NodeResult]
) -> list[LedgerRow]:
    """Double-entry rows: each entry is one debit row and one credit row of the same amount."""
    new = tuple.__new__  # builds the named tuples without a Python-level __new__ per row
    rows: list[LedgerRow] = []
    add = rows.append
    entry = 0
    for (node_id, dim), amount in sorted(direct.items()):
        if amount:
            entry += 1
            add(
                new(LedgerRow, (entry, LEDGER_COST_INCURRED, ACCOUNT_NODE, node_id, dim, amount, 0))
            )
            add(
                new(
                    LedgerRow,
                    (entry, LEDGER_COST_INCURRED, ACCOUNT_INFRASTRUCTURE, None, dim, 0, amount),
                )
            )
    allocated, node_account = LEDGER_COST_ALLOCATED, ACCOUNT_NODE
    for parent, child, dim, amount in flows:
        entry += 1
        add(new(LedgerRow, (entry, allocated, node_account, child, dim, amount, 0)))
        add(new(LedgerRow, (entry, allocated, node_account, parent, dim, 0, amount)))
    for r in results:
        if r.carried_forward:
            entry += 1
            add(
                new(
                    LedgerRow,
                    (
                        entry,
                        LEDGER_LOSS_FORWARD,
                        ACCOUNT_CARRIED_FORWARD,
                        None,
                        r.dimension,
                        r.carried_forward,
                        0,
                    ),
                )
            )
            add(
                new(
                    LedgerRow,
                    (
                        entry,
                        LEDGER_LOSS_FORWARD,
                        ACCOUNT_NODE,
                        r.node,
                        r.dimension,
                        0,
                        r.carried_forward,
                    ),
                )
            )
    return rows


def check_invariants(inp: AllocationInput, outcome: AllocationOutcome) -> Invariants:
    """Recompute the totals independently and list every violated invariant."""
    violations: list[str] = []
    kinds = {n.id: n.kind for n in inp.nodes}
    raw = sum(inp.direct.values())
    allocated = sum(
        r.retained - r.carried_forward for r in outcome.results if kinds[r.node] == PRODUCT
    )
    unallocated = sum(outcome.unallocated.values())
    carried = sum(r.carried_forward for r in outcome.results)
    delta = raw - allocated - unallocated
    if delta:
        violations.append(
            f"conservation: raw {raw} != allocated {allocated} + unallocated {unallocated}"
        )

    inflow: dict[tuple[int, str], int] = defaultdict(int)
    outflow: dict[tuple[int, str], int] = defaultdict(int)
    for parent, child, dim, amount in outcome.flows:
        inflow[(child, dim)] += amount
        outflow[(parent, dim)] += amount
    for r in outcome.results:
        key = (r.node, r.dimension)
        if r.received != inflow.get(key, 0) or r.allocated_out != outflow.get(key, 0):
            violations.append(f"flows: node {r.node} {r.dimension} does not match its flows")
        if r.holistic != r.direct + r.received or r.retained != r.holistic - r.allocated_out:
            violations.append(f"arithmetic: node {r.node} {r.dimension}")
        sent = r.allocated_out + r.carried_forward
        if (r.holistic >= 0 and not 0 <= sent <= r.holistic) or (
            r.holistic < 0 and not r.holistic <= sent <= 0
        ):
            violations.append(
                f"amplification: node {r.node} {r.dimension} passes on {sent} of {r.holistic}"
            )
    if raw >= 0 and allocated > raw:
        violations.append(f"amplification: allocated {allocated} exceeds raw cost {raw}")

    debits = sum(map(itemgetter(5), outcome.ledger))
    credits = sum(map(itemgetter(6), outcome.ledger))
    balanced = debits == credits
    if not balanced:
        violations.append(f"ledger: debits {debits} != credits {credits}")
    coverage = None
    if raw:
        coverage = (Decimal(allocated) / Decimal(raw)).quantize(Decimal("0.000001"))
    return Invariants(
        raw=raw,
        allocated=allocated,
        unallocated=unallocated,
        carried_forward=carried,
        conservation_delta=delta,
        coverage=coverage,
        ledger_balanced=balanced,
        violations=violations,
    )


def fingerprint(inp: AllocationInput) -> str:
    """A SHA-256 of the canonical input: the same graph, costs and usage give the same hash."""
    canonical: dict[int, str] = {}
    keep_alive = []

    def canon(value: Mapping[str, Any]) -> str:
        # Loaded parameters are shared objects; render each distinct one once.
        key = id(value)
        text = canonical.get(key)
        if text is None:
            text = json.dumps(value, sort_keys=True, default=str)
            canonical[key] = text
            keep_alive.append(value)
        return text

    parts = [
        json.dumps(
            [
                str(inp.period_start),
                str(inp.period_end),
                inp.minor_digits,
                sorted((n.id, n.kind, n.active) for n in inp.nodes),
            ]
        )
    ]
    parts.extend(
        f"e{e.parent}|{e.child}|{e.strategy}|{canon(e.params)}|{canon(e.overrides)};"
        for e in sorted(inp.edges, key=lambda e: (e.parent, e.child))
    )
    parts.extend(f"d{n}|{dim}|{amount};" for (n, dim), amount in sorted(inp.direct.items()))
    parts.extend(
        f"u{node}|{metric}|{day}|{dim}|{quantity};"
        for node, metric, day, quantity, dim in sorted(inp.usage)
    )
    return hashlib.sha256("".join(parts).encode()).hexdigest()
