"""Topological order (Kahn) and cycle detection."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping

from .datatypes import (
    CycleError,
)


def find_cycle(node_ids: Iterable[int], edges: Iterable[tuple[int, int]]) -> list[int] | None:
    """A cycle as ``[a, b, …, a]`` if the graph has one, else ``None`` (iterative DFS)."""
    children: dict[int, list[int]] = defaultdict(list)
    for parent, child in edges:
        children[parent].append(child)
    white, grey, black = 0, 1, 2
    colour: dict[int, int] = defaultdict(int)
    for start in sorted(set(node_ids) | set(children)):
        if colour[start] != white:
            continue
        stack = [(start, iter(sorted(children.get(start, ()))))]
        path = [start]
        colour[start] = grey
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = black
                stack.pop()
                path.pop()
                continue
            if colour[nxt] == grey:
                return [*path[path.index(nxt) :], nxt]
            if colour[nxt] == white:
                colour[nxt] = grey
                path.append(nxt)
                stack.append((nxt, iter(sorted(children.get(nxt, ())))))
    return None


def topological_order(
    node_ids: Iterable[int],
    edges: Iterable[tuple[int, int]],
    names: Mapping[int, str] | None = None,
) -> list[int]:
    """Kahn's algorithm (sources in id order, then breadth first).

    Raises ``CycleError`` naming the cycle.
    """
    ids = sorted(set(node_ids))
    edge_list = list(edges)
    indegree = dict.fromkeys(ids, 0)
    children: dict[int, list[int]] = defaultdict(list)
    for parent, child in edge_list:
        children[parent].append(child)
        indegree[child] = indegree.get(child, 0) + 1
        indegree.setdefault(parent, 0)
    queue = deque(n for n in sorted(indegree) if indegree[n] == 0)
    order = []
    while queue:
        node = queue.popleft()
        order.append(node)
        for child in children.get(node, ()):
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
    if len(order) < len(indegree):
        cycle = find_cycle(indegree, edge_list) or []
        raise CycleError(cycle, names)
    return order
