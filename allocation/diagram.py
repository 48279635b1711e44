"""The layout of a run's cost flow diagram: a layered Sankey drawn as server-rendered SVG.

``flow_diagram`` takes the run's nodes (their holistic cost and what they keep) and its flows
(amounts summed over dimensions) and returns the geometry the template draws: columns by the
longest path from the nodes where cost is incurred, node bars as tall as their holistic cost,
and one band per flow, as wide as its amount, leaving the source's right edge and entering
the target's left edge in the order of the nodes they join (so bands do not cross at a node).

Large graphs degrade gracefully: each column keeps its ``per_layer`` largest nodes and groups
the rest into one "N other nodes" bar; only the ``max_flows`` largest flows are drawn, and the
diagram says how many were left out. Amounts stay exact Decimals for the labels; only the
geometry is floating point.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

PER_LAYER = 8
MAX_FLOWS = 60
WIDTH = 1100
NODE_WIDTH = 14
LABEL_SPACE = 230  # to the right of the last column
MARGIN = 12
GAP = 16  # between the bars of a column
ROW = 44  # height given to each bar of the fullest column
MIN_BAR = 3.0


@dataclass(frozen=True)
class NodeInput:
    id: int
    name: str
    kind: str
    holistic: Decimal
    retained: Decimal


@dataclass
class DiagramNode:
    key: int  # a node id, or a negative number for a column's grouped rest
    name: str
    kind: str
    value: Decimal
    retained: Decimal
    layer: int
    grouped: int = 0  # how many nodes a grouped bar stands for
    x: float = 0.0
    y: float = 0.0
    height: float = 0.0
    highlighted: bool = False

    @property
    def label_x(self) -> float:
        return self.x + NODE_WIDTH + 4

    @property
    def label_y(self) -> float:
        return self.y + self.height / 2


@dataclass
class DiagramFlow:
    source: DiagramNode
    target: DiagramNode
    amount: Decimal
    width: float = 0.0
    y0: float = 0.0
    path: str = ""
    highlighted: bool = False


@dataclass
class Diagram:
    width: int
    height: int
    nodes: list[DiagramNode]
    flows: list[DiagramFlow]
    hidden_flows: int = 0
    hidden_amount: Decimal = Decimal(0)
    grouped_nodes: int = 0
    columns: int = 0
    highlighted: int | None = None
    notes: list[str] = field(default_factory=list)


def _layers(nodes: Iterable[int], edges: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Longest-path layering of a DAG (the allocation graph is acyclic by construction)."""
    incoming: dict[int, set[int]] = defaultdict(set)
    outgoing: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        outgoing[a].add(b)
        incoming[b].add(a)
    layer = dict.fromkeys(nodes, 0)
    waiting = {n: len(incoming[n]) for n in layer}
    ready = sorted(n for n, count in waiting.items() if count == 0)
    while ready:
        n = ready.pop()
        for m in outgoing[n]:
            layer[m] = max(layer[m], layer[n] + 1)
            waiting[m] -= 1
            if waiting[m] == 0:
                ready.append(m)
    return layer


def _upstream(target: int, edges: Iterable[tuple[int, int]]) -> set[int]:
    parents: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        parents[b].add(a)
    seen, todo = {target}, [target]
    while todo:
        for p in parents[todo.pop()]:
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


def _group(
    nodes: Mapping[int, NodeInput], layer: dict[int, int], per_layer: int
) -> tuple[dict[int, DiagramNode], dict[int, int]]:
    """The bars of each column, and for every node id the key of the bar that shows it."""
    columns: dict[int, list[int]] = defaultdict(list)
    for n, lay in layer.items():
        columns[lay].append(n)
    bars: dict[int, DiagramNode] = {}
    bar_of: dict[int, int] = {}
    for lay, members in columns.items():
        members.sort(key=lambda n: (-abs(nodes[n].holistic), nodes[n].name))
        kept, rest = members[:per_layer], members[per_layer:]
        if len(rest) == 1:  # grouping one node hides it for nothing
            kept, rest = members, []
        for n in kept:
            info = nodes[n]
            bars[n] = DiagramNode(n, info.name, info.kind, info.holistic, info.retained, lay)
            bar_of[n] = n
        if rest:
            key = -(lay + 1)
            bars[key] = DiagramNode(
                key,
                f"{len(rest)} other nodes",
                "group",
                sum((nodes[n].holistic for n in rest), Decimal(0)),
                sum((nodes[n].retained for n in rest), Decimal(0)),
                lay,
                grouped=len(rest),
            )
            for n in rest:
                bar_of[n] = key
    return bars, bar_of


def _place(
    bars: dict[int, DiagramNode], flows: list[DiagramFlow], columns: int
) -> tuple[int, float]:
    """Set every bar's position and height; return the diagram's height and the pixels per
    unit of money."""
    by_column: dict[int, list[DiagramNode]] = defaultdict(list)
    for bar in bars.values():
        by_column[bar.layer].append(bar)
    fullest = max(len(c) for c in by_column.values())
    height = int(2 * MARGIN + fullest * ROW)
    largest = max(sum(abs(b.value) for b in c) for c in by_column.values()) or Decimal(1)
    scale = (height - 2 * MARGIN - GAP * (fullest - 1)) / float(largest)
    step = (WIDTH - LABEL_SPACE - 2 * MARGIN - NODE_WIDTH) / max(columns - 1, 1)
    sources: dict[int, list[DiagramFlow]] = defaultdict(list)
    for flow in flows:
        sources[flow.target.key].append(flow)
    for lay in sorted(by_column):
        column = by_column[lay]
        if lay == 0:
            column.sort(key=lambda b: (-abs(b.value), b.name))
        else:
            # each bar sits near the bars it receives from (fewer crossings)
            def centre(bar: DiagramNode) -> float:
                incoming = sources[bar.key]
                total = sum(float(abs(f.amount)) for f in incoming)
                if not total:
                    return float("inf")
                return sum(f.source.label_y * float(abs(f.amount)) for f in incoming) / total

            column.sort(key=lambda b: (centre(b), -abs(b.value), b.name))
        y = float(MARGIN)
        for bar in column:
            bar.x = MARGIN + lay * step
            bar.y = y
            bar.height = max(float(abs(bar.value)) * scale, MIN_BAR)
            y += bar.height + GAP
    return max(height, int(max(b.y + b.height for b in bars.values()) + MARGIN)), scale


def _bands(flows: list[DiagramFlow], scale_of: Mapping[int, float]) -> None:
    out_offset: dict[int, float] = defaultdict(float)
    in_offset: dict[int, float] = defaultdict(float)
    for flow in sorted(flows, key=lambda f: (f.source.key, f.target.y)):
        flow.width = max(float(abs(flow.amount)) * scale_of[flow.source.key], 1.0)
        flow.y0 = flow.source.y + out_offset[flow.source.key] + flow.width / 2
        out_offset[flow.source.key] += flow.width
    for flow in sorted(flows, key=lambda f: (f.target.key, f.source.y)):
        y1 = flow.target.y + in_offset[flow.target.key] + flow.width / 2
        in_offset[flow.target.key] += flow.width
        x0 = flow.source.x + NODE_WIDTH
        x1 = flow.target.x
        mid = (x0 + x1) / 2
        flow.path = (
            f"M{x0:.1f},{flow.y0:.1f} C{mid:.1f},{flow.y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
        )


def flow_diagram(
    *,
    nodes: Mapping[int, NodeInput],
    flows: Iterable[tuple[int, int, Decimal]],
    highlight: int | None = None,
    per_layer: int = PER_LAYER,
    max_flows: int = MAX_FLOWS,
) -> Diagram | None:
    """The diagram of ``flows`` (from node id, to node id, amount) between ``nodes``; None
    when there is nothing to draw. ``highlight`` marks a node and every flow upstream of it
    (where its cost came from)."""
    flows = [(a, b, amount) for a, b, amount in flows if a in nodes and b in nodes and amount]
    if not flows:
        return None
    edges = [(a, b) for a, b, _ in flows]
    involved = {n for edge in edges for n in edge}
    layer = _layers(involved, edges)
    bars, bar_of = _group(nodes, layer, per_layer)
    summed: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for a, b, amount in flows:
        summed[(bar_of[a], bar_of[b])] += amount
    ranked = sorted(summed.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    shown, hidden = ranked[:max_flows], ranked[max_flows:]
    diagram_flows = [DiagramFlow(bars[a], bars[b], amount) for (a, b), amount in shown]
    columns = max(layer.values()) + 1
    height, scale = _place(bars, diagram_flows, columns)
    # a band is as wide as its amount, but never wider than its source's bar allows
    scale_of = {}
    for key, bar in bars.items():
        out = sum(float(abs(f.amount)) for f in diagram_flows if f.source.key == key)
        scale_of[key] = min(scale, bar.height / out) if out else scale
    _bands(diagram_flows, scale_of)
    if highlight is not None and highlight in bar_of:
        upstream = _upstream(highlight, edges)
        marked = {bar_of[n] for n in upstream}
        for bar in bars.values():
            bar.highlighted = bar.key in marked
        for flow in diagram_flows:
            flow.highlighted = flow.source.key in marked and flow.target.key in marked
    return Diagram(
        width=WIDTH,
        height=height,
        nodes=sorted(bars.values(), key=lambda b: (b.layer, b.y)),
        flows=diagram_flows,
        hidden_flows=len(hidden),
        hidden_amount=sum((amount for _, amount in hidden), Decimal(0)),
        grouped_nodes=sum(b.grouped for b in bars.values()),
        columns=columns,
        highlighted=highlight if highlight in bar_of else None,
    )
