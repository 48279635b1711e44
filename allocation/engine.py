"""The allocation engine: pure computation, no database, no Django.

Shared cost flows from cost sources (parents) to receivers (children) along a directed
acyclic graph. Amounts are integers in the reporting currency's minor units, per
(node, dimension). Nodes are processed in topological order (Kahn); each parent's holistic
amount for a dimension is split among its children by the strategy of its edges, always by
the largest-remainder method so that the parts sum exactly to the whole.

Inputs: ``AllocationInput`` (nodes, edges, direct costs, usage, period). Output:
``AllocationOutcome`` (results per node and dimension, flows, balanced ledger rows, the
unallocated amounts and the invariants checked on the result).

Strategies (parameters in brackets):

- ``equal``: split evenly among the children active in the period; when none is active the
  amount is carried forward to the next period ("loss carried forward").
- ``proportional`` [metric]: by the children's usage of the metric in the period; all-zero
  usage falls back to ``equal``.
- ``fixed_percent`` [percent]: each such child gets its share; the parent keeps the rest
  unless it has other children, which then share the rest by their own strategy.
- ``capped_proportional`` [metric, cap]: proportional, each child's part capped at ``cap``
  (major units); the excess stays unallocated at the parent.
- ``residual_to_max`` [metric]: every child gets the floor of its proportional share; the
  rounding residual goes to the largest consumer.
- ``weighted_average`` [metric, window_days, decay?]: proportional on the usage of the
  ``window_days`` days ending with the period, each day weighted by ``decay ** age_in_days``.
- ``hybrid_fixed_proportional`` [metric, fixed_percent]: ``fixed_percent`` of the amount is
  split equally, the rest proportionally.
- ``min_floor_proportional`` [metric, floor_percent]: each child gets ``floor_percent`` of the
  amount, the rest is split proportionally.

The non-``fixed_percent`` edges of a parent share one strategy per dimension (the services
refuse anything else); the engine uses the strategy of the first such edge by child id.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Context, Decimal, InvalidOperation
from operator import itemgetter
from types import MappingProxyType
from typing import Any, NamedTuple

EQUAL = "equal"
PROPORTIONAL = "proportional"
FIXED_PERCENT = "fixed_percent"
CAPPED_PROPORTIONAL = "capped_proportional"
RESIDUAL_TO_MAX = "residual_to_max"
WEIGHTED_AVERAGE = "weighted_average"
HYBRID_FIXED_PROPORTIONAL = "hybrid_fixed_proportional"
MIN_FLOOR_PROPORTIONAL = "min_floor_proportional"

STRATEGIES: tuple[str, ...] = (
    EQUAL,
    PROPORTIONAL,
    FIXED_PERCENT,
    CAPPED_PROPORTIONAL,
    RESIDUAL_TO_MAX,
    WEIGHTED_AVERAGE,
    HYBRID_FIXED_PROPORTIONAL,
    MIN_FLOOR_PROPORTIONAL,
)

RESOURCE = "resource"
SHARED_SERVICE = "shared_service"
PLATFORM = "platform"
PRODUCT = "product"
NODE_KINDS: tuple[str, ...] = (RESOURCE, SHARED_SERVICE, PLATFORM, PRODUCT)

# Percentages are held as integers of 1/10,000 of a percent: 100 % == 1,000,000.
PERCENT_DECIMALS = 4
PERCENT_SCALE = 10**6
# Usage quantities are integers of millionths of the metric's unit.
USAGE_DECIMALS = 6
MAX_WINDOW_DAYS = 366

LEDGER_COST_INCURRED = "cost_incurred"
LEDGER_COST_ALLOCATED = "cost_allocated"
LEDGER_LOSS_FORWARD = "loss_forward"
ACCOUNT_NODE = "node"
ACCOUNT_INFRASTRUCTURE = "infrastructure"
ACCOUNT_CARRIED_FORWARD = "carried_forward"

_METRIC_STRATEGIES = frozenset(STRATEGIES) - {EQUAL, FIXED_PERCENT}
_ALLOWED_KEYS: dict[str, tuple[set[str], set[str]]] = {
    # strategy: (required keys, optional keys)
    EQUAL: (set(), set()),
    PROPORTIONAL: ({"metric"}, set()),
    FIXED_PERCENT: ({"percent"}, set()),
    CAPPED_PROPORTIONAL: ({"metric", "cap"}, set()),
    RESIDUAL_TO_MAX: ({"metric"}, set()),
    WEIGHTED_AVERAGE: ({"metric", "window_days"}, {"decay"}),
    HYBRID_FIXED_PROPORTIONAL: ({"metric", "fixed_percent"}, set()),
    MIN_FLOOR_PROPORTIONAL: ({"metric", "floor_percent"}, set()),
}


class EngineError(ValueError):
    """Input the engine cannot compute; ``field`` names what is wrong."""

    field = "non_field_errors"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class ParameterError(EngineError):
    field = "parameters"


class CycleError(EngineError):
    """The graph has a cycle; ``cycle`` lists its node ids, first and last the same."""

    field = "child"

    def __init__(self, cycle: Sequence[int], names: Mapping[int, str] | None = None) -> None:
        self.cycle = list(cycle)
        labels = [str((names or {}).get(n, n)) for n in self.cycle]
        super().__init__(f"This edge would create a cycle: {' → '.join(labels)}.")


# --- inputs ----------------------------------------------------------------------------


_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})


class Node(NamedTuple):
    id: int
    kind: str = PRODUCT
    name: str = ""
    # Active in the period (any usage or activity); ``equal`` splits among active children.
    active: bool = True


class Edge(NamedTuple):
    parent: int
    child: int
    strategy: str = EQUAL
    params: Mapping[str, Any] = _NO_PARAMS
    # {dimension: {"strategy": ..., "parameters": {...}}}: a different rule for one dimension.
    overrides: Mapping[str, Mapping[str, Any]] = _NO_PARAMS

    def rule_for(self, dimension: str) -> tuple[str, Mapping[str, Any]]:
        override = self.overrides.get(dimension) if self.overrides else None
        if override:
            return override.get("strategy", self.strategy), override.get("parameters", {})
        return self.strategy, self.params


class Usage(NamedTuple):
    node: int
    metric: str
    day: date
    quantity: int  # millionths of the metric's unit
    dimension: str = ""  # empty: counts for every dimension


@dataclass
class AllocationInput:
    nodes: Sequence[Node]
    edges: Sequence[Edge]
    direct: Mapping[tuple[int, str], int]
    usage: Sequence[Usage] = ()
    period_start: date | None = None
    period_end: date | None = None
    minor_digits: int = 2


# --- outputs ---------------------------------------------------------------------------


@dataclass(slots=True)
class NodeResult:
    node: int
    dimension: str
    direct: int = 0
    received: int = 0
    holistic: int = 0
    allocated_out: int = 0
    retained: int = 0
    carried_forward: int = 0  # the part of ``retained`` carried to the next period


class Flow(NamedTuple):
    parent: int
    child: int
    dimension: str
    amount: int


class LedgerRow(NamedTuple):
    entry: int
    kind: str
    account: str
    node: int | None
    dimension: str
    debit: int
    credit: int


@dataclass
class Invariants:
    raw: int
    allocated: int
    unallocated: int
    carried_forward: int
    conservation_delta: int
    coverage: Decimal | None
    ledger_balanced: bool
    violations: list[str]

    def as_dict(self, minor_digits: int = 2) -> dict[str, Any]:
        def money(units: int) -> str:
            return str(Decimal(units).scaleb(-minor_digits))

        return {
            "raw_infrastructure_cost": money(self.raw),
            "allocated_to_final_cost_centres": money(self.allocated),
            "unallocated": money(self.unallocated),
            "carried_forward": money(self.carried_forward),
            "conservation_delta": money(self.conservation_delta),
            "coverage": None if self.coverage is None else str(self.coverage),
            "ledger_balanced": self.ledger_balanced,
            "violations": list(self.violations),
        }


@dataclass
class AllocationOutcome:
    order: list[int]
    results: list[NodeResult]
    flows: list[Flow]
    ledger: list[LedgerRow]
    unallocated: dict[tuple[int, str], int]
    final_cost_centres: list[int]
    invariants: Invariants

    def result_map(self) -> dict[tuple[int, str], NodeResult]:
        return {(r.node, r.dimension): r for r in self.results}

    def holistic(self, node: int) -> int:
        return sum(r.holistic for r in self.results if r.node == node)

    def retained(self, node: int) -> int:
        return sum(r.retained for r in self.results if r.node == node)


# --- splitting -------------------------------------------------------------------------


def split_by_weights(total: int, weights: Sequence[int]) -> list[int]:
    """Largest-remainder split of ``total`` by non-negative integer ``weights``.

    The same contract as ``costtrack.core.money.split_minor_units`` (ties to the earlier
    weight, negative totals split by magnitude) in integer arithmetic, which is what makes
    graphs of tens of thousands of edges fast. All-zero weights raise ``ValueError``.
    """
    weight_sum = sum(weights)
    if weight_sum <= 0:
        raise ValueError("Cannot split by all-zero weights.")
    sign = -1 if total < 0 else 1
    magnitude = -total if total < 0 else total
    parts = []
    remainders = []
    allotted = 0
    for w in weights:
        q, r = divmod(magnitude * w, weight_sum)
        parts.append(q)
        remainders.append(r)
        allotted += q
    leftover = magnitude - allotted
    if leftover:
        order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
        for i in order[:leftover]:
            parts[i] += 1
    if sign < 0:
        return [-p for p in parts]
    return parts


def _split_equal(total: int, n: int) -> list[int]:
    sign = -1 if total < 0 else 1
    q, r = divmod(abs(total), n)
    return [sign * (q + 1 if i < r else q) for i in range(n)]


# --- parameters ------------------------------------------------------------------------


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise ParameterError(f"'{name}' must be a number given as a string or an integer.")
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        raise ParameterError(f"'{name}' must be a number, not {value!r}.") from None
    if not number.is_finite():
        raise ParameterError(f"'{name}' must be a finite number.")
    return number


def _percent_units(value: Any, name: str, *, allow_zero: bool = False) -> int:
    number = _decimal(value, name)
    lowest_ok = number >= 0 if allow_zero else number > 0
    if not lowest_ok or number > 100:
        bound = "between 0 and 100" if allow_zero else "above 0 and at most 100"
        raise ParameterError(f"'{name}' must be a percentage {bound}, not {value}.")
    units = number.scaleb(PERCENT_DECIMALS)
    if units != units.to_integral_value():
        raise ParameterError(f"'{name}' allows at most {PERCENT_DECIMALS} decimal places.")
    return int(units)


def validate_parameters(
    strategy: str, params: Mapping[str, Any] | None, *, minor_digits: int = 2
) -> dict[str, Any]:
    """Check a strategy's parameters; return them normalised (numbers as strings).

    Raises ``ParameterError`` naming the strategy and the offending key.
    """
    if strategy not in _ALLOWED_KEYS:
        raise ParameterError(
            f"Unknown strategy '{strategy}'. Choose one of: {', '.join(STRATEGIES)}.",
            field="strategy",
        )
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ParameterError("Parameters must be a JSON object.")
    required, optional = _ALLOWED_KEYS[strategy]
    unknown = set(params) - required - optional
    if unknown:
        raise ParameterError(
            f"Strategy '{strategy}' does not take: {', '.join(sorted(unknown))}."
            + (f" It takes: {', '.join(sorted(required | optional))}." if required else "")
        )
    missing = required - set(params)
    if missing:
        raise ParameterError(f"Strategy '{strategy}' needs: {', '.join(sorted(missing))}.")
    clean: dict[str, Any] = {}
    if "metric" in required:
        metric = params["metric"]
        if not isinstance(metric, str) or not metric.strip() or len(metric) > 64:
            raise ParameterError("'metric' must be a usage metric name such as 'cpu_hours'.")
        clean["metric"] = metric.strip()
    if strategy == FIXED_PERCENT:
        _percent_units(params["percent"], "percent")
        clean["percent"] = str(_decimal(params["percent"], "percent"))
    if strategy == CAPPED_PROPORTIONAL:
        cap = _decimal(params["cap"], "cap")
        if cap < 0:
            raise ParameterError("'cap' must not be negative.")
        exponent = cap.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > minor_digits:
            raise ParameterError(f"'cap' allows at most {minor_digits} decimal places.")
        clean["cap"] = str(cap)
    if strategy == WEIGHTED_AVERAGE:
        window = params["window_days"]
        if (
            isinstance(window, bool)
            or not isinstance(window, int)
            or not (1 <= window <= MAX_WINDOW_DAYS)
        ):
            raise ParameterError(
                f"'window_days' must be a whole number of days from 1 to {MAX_WINDOW_DAYS}."
            )
        clean["window_days"] = window
        if params.get("decay") is not None:
            decay = _decimal(params["decay"], "decay")
            if not (0 < decay <= 1):
                raise ParameterError("'decay' must be above 0 and at most 1.")
            clean["decay"] = str(decay)
    if strategy == HYBRID_FIXED_PROPORTIONAL:
        _percent_units(params["fixed_percent"], "fixed_percent", allow_zero=True)
        clean["fixed_percent"] = str(_decimal(params["fixed_percent"], "fixed_percent"))
    if strategy == MIN_FLOOR_PROPORTIONAL:
        _percent_units(params["floor_percent"], "floor_percent", allow_zero=True)
        clean["floor_percent"] = str(_decimal(params["floor_percent"], "floor_percent"))
    return clean


def validate_overrides(
    overrides: Mapping[str, Any] | None, *, minor_digits: int = 2
) -> dict[str, dict[str, Any]]:
    """``{dimension: {"strategy": ..., "parameters": {...}}}``, each rule validated."""
    if not overrides:
        return {}
    if not isinstance(overrides, Mapping):
        raise ParameterError(
            "Overrides must be a JSON object keyed by dimension.", field="overrides"
        )
    clean = {}
    for dimension, rule in overrides.items():
        if not isinstance(dimension, str) or not dimension or len(dimension) > 32:
            raise ParameterError("Override keys must be dimension names.", field="overrides")
        if not isinstance(rule, Mapping) or "strategy" not in rule:
            raise ParameterError(
                f"The override for '{dimension}' needs a 'strategy' (and 'parameters').",
                field="overrides",
            )
        extra = set(rule) - {"strategy", "parameters"}
        if extra:
            raise ParameterError(
                f"The override for '{dimension}' does not take: {', '.join(sorted(extra))}.",
                field="overrides",
            )
        try:
            params = validate_parameters(
                rule["strategy"], rule.get("parameters") or {}, minor_digits=minor_digits
            )
        except ParameterError as exc:
            raise ParameterError(
                f"Override for '{dimension}': {exc.message}", field="overrides"
            ) from None
        clean[dimension] = {"strategy": rule["strategy"], "parameters": params}
    return clean


def fixed_share_units(edges: Iterable[Edge], dimension: str | None = None) -> int:
    """The sum of the ``fixed_percent`` shares of a parent's edges, in percent units."""
    total = 0
    for edge in edges:
        strategy, params = edge.rule_for(dimension) if dimension else (edge.strategy, edge.params)
        if strategy == FIXED_PERCENT:
            total += _percent_units(params.get("percent"), "percent")
    return total


def check_parent_rules(edges: Sequence[Edge], names: Mapping[int, str] | None = None) -> None:
    """Refuse a parent's edges that the engine cannot split as one rule per dimension.

    Per dimension (the base rule and every overridden dimension): the ``fixed_percent``
    shares total at most 100 %; the other edges share one strategy and its parameters (only
    ``cap`` may differ per child); ``min_floor_proportional`` floors total at most 100 %.
    Raises ``ParameterError`` naming the nodes.
    """
    names = names or {}

    def label(node_id: int) -> str:
        return f"'{names.get(node_id, node_id)}'"

    if not edges:
        return
    parent = label(edges[0].parent)
    dimensions: list[str | None] = [None]
    for edge in edges:
        dimensions.extend(d for d in (edge.overrides or {}) if d not in dimensions)
    for dim in dimensions:
        rules = [(e, *(e.rule_for(dim) if dim else (e.strategy, e.params))) for e in edges]
        where = f" for dimension '{dim}'" if dim else ""
        fixed = [(e, p) for e, s, p in rules if s == FIXED_PERCENT]
        total = sum(_percent_units(p.get("percent"), "percent") for _, p in fixed)
        if total > PERCENT_SCALE:
            shares = ", ".join(f"{label(e.child)} {p['percent']} %" for e, p in fixed)
            raise ParameterError(
                f"The fixed shares of {parent}{where} would total "
                f"{Decimal(total).scaleb(-PERCENT_DECIMALS).normalize():f} %, above 100 % "
                f"({shares}).",
                field="parameters",
            )
        others = [(e, s, p) for e, s, p in rules if s != FIXED_PERCENT]
        if not others:
            continue
        first_edge, first_strategy, first_params = others[0]
        shared = {k: v for k, v in first_params.items() if k != "cap"}
        for edge, strategy, params in others[1:]:
            if strategy != first_strategy or {k: v for k, v in params.items() if k != "cap"} != (
                shared
            ):
                raise ParameterError(
                    f"The edges from {parent}{where} must split by one rule: "
                    f"{label(first_edge.child)} uses '{first_strategy}' {shared or ''}, "
                    f"{label(edge.child)} uses '{strategy}' "
                    f"{ {k: v for k, v in params.items() if k != 'cap'} or '' }.".replace(
                        " .", "."
                    ),
                    field="strategy",
                )
        if first_strategy == MIN_FLOOR_PROPORTIONAL:
            floor = _percent_units(first_params["floor_percent"], "floor_percent", allow_zero=True)
            if floor * len(others) > PERCENT_SCALE:
                raise ParameterError(
                    f"The floors of {parent}{where} would total more than 100 % "
                    f"({len(others)} children × {first_params['floor_percent']} %).",
                    field="parameters",
                )


# --- graph -----------------------------------------------------------------------------


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


# --- usage weights ---------------------------------------------------------------------


class _UsageIndex:
    """Usage sums per (node, metric): in the period per dimension, and by day for windows."""

    def __init__(self, usage: Sequence[Usage], start: date | None, end: date | None) -> None:
        self.start, self.end = start, end
        self.period: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.daily: dict[tuple[int, str], list[Usage]] = defaultdict(list)
        for u in usage:
            self.daily[(u.node, u.metric)].append(u)
            if (start is None or u.day >= start) and (end is None or u.day <= end):
                self.period[(u.node, u.metric)][u.dimension] += u.quantity

    def period_usage(self, node: int, metric: str, dimension: str) -> int:
        by_dim = self.period.get((node, metric))
        if not by_dim:
            return 0
        return by_dim.get(dimension, 0) + by_dim.get("", 0)

    def window_usage(
        self, node: int, metric: str, dimension: str, window_days: int, decay: Decimal | None
    ) -> int:
        records = self.daily.get((node, metric))
        if not records:
            return 0
        end = max(u.day for u in records) if self.end is None else self.end
        first = end - timedelta(days=window_days - 1)
        if decay is None or decay == 1:
            return sum(
                u.quantity
                for u in records
                if first <= u.day <= end and u.dimension in ("", dimension)
            )
        ctx = Context(prec=50)
        total = Decimal(0)
        for u in records:
            if first <= u.day <= end and u.dimension in ("", dimension):
                age = (end - u.day).days
                total = ctx.add(total, ctx.multiply(Decimal(u.quantity), ctx.power(decay, age)))
        # Keep six more digits so the decayed weights stay distinct before flooring.
        return int(total.scaleb(USAGE_DECIMALS).to_integral_value(rounding=ROUND_DOWN))


# --- the computation -------------------------------------------------------------------


@dataclass
class _Split:
    parts: list[int]
    kept: int = 0  # stays at the parent, unallocated
    carried: int = 0  # no active child: carried forward to the next period


class _Allocator:
    def __init__(self, inp: AllocationInput) -> None:
        self.inp = inp
        self.nodes = {n.id: n for n in inp.nodes}
        self.usage = _UsageIndex(inp.usage, inp.period_start, inp.period_end)
        self.minor_digits = inp.minor_digits
        self._plans: dict[tuple[int, str | None], tuple] = {}
        self._overridden: dict[int, set[str]] = {}
        self._window: dict[tuple, int] = {}

    # Each returns a _Split for ``amount`` over ``edges`` (all of one group).
    def equal(self, amount: int, edges: Sequence[Edge]) -> _Split:
        active = [i for i, e in enumerate(edges) if self.nodes[e.child].active]
        parts = [0] * len(edges)
        if not active:
            return _Split(parts, carried=amount)
        for i, part in zip(active, _split_equal(amount, len(active)), strict=True):
            parts[i] = part
        return _Split(parts)

    def _weights(self, edges: Sequence[Edge], params: Mapping[str, Any], dim: str) -> list[int]:
        metric = params["metric"]
        if "window_days" in params:
            decay = Decimal(params["decay"]) if params.get("decay") is not None else None
            window = int(params["window_days"])
            weights = []
            for e in edges:
                key = (e.child, metric, dim, window, decay)
                weight = self._window.get(key)
                if weight is None:
                    weight = self.usage.window_usage(e.child, metric, dim, window, decay)
                    self._window[key] = weight
                weights.append(weight)
            return weights
        period = self.usage.period
        weights = []
        for e in edges:
            by_dim = period.get((e.child, metric))
            weights.append(by_dim.get(dim, 0) + by_dim.get("", 0) if by_dim else 0)
        return weights

    def proportional(
        self, amount: int, edges: Sequence[Edge], params: Mapping[str, Any], dim: str
    ) -> _Split:
        weights = self._weights(edges, params, dim)
        if not any(weights):
            return self.equal(amount, edges)
        return _Split(split_by_weights(amount, weights))

    def capped(
        self, amount: int, edges: Sequence[Edge], rules: Sequence[Mapping[str, Any]], dim: str
    ) -> _Split:
        split = self.proportional(amount, edges, rules[0], dim)
        kept = 0
        for i, rule in enumerate(rules):
            cap = int(Decimal(rule["cap"]).scaleb(self.minor_digits))
            part = split.parts[i]
            if abs(part) > cap:
                capped = cap if part > 0 else -cap
                kept += part - capped
                split.parts[i] = capped
        split.kept += kept
        return split

    def residual_to_max(
        self, amount: int, edges: Sequence[Edge], params: Mapping[str, Any], dim: str
    ) -> _Split:
        weights = self._weights(edges, params, dim)
        total_weight = sum(weights)
        if not total_weight:
            return self.equal(amount, edges)
        magnitude, sign = abs(amount), (-1 if amount < 0 else 1)
        parts = [magnitude * w // total_weight for w in weights]
        largest = max(range(len(weights)), key=lambda i: (weights[i], -i))
        parts[largest] += magnitude - sum(parts)
        return _Split([sign * p for p in parts])

    def hybrid(
        self, amount: int, edges: Sequence[Edge], params: Mapping[str, Any], dim: str
    ) -> _Split:
        fixed_units = _percent_units(params["fixed_percent"], "fixed_percent", allow_zero=True)
        fixed_part, rest = split_by_weights(amount, [fixed_units, PERCENT_SCALE - fixed_units])
        a = self.equal(fixed_part, edges)
        b = self.proportional(rest, edges, params, dim)
        return _Split(
            [x + y for x, y in zip(a.parts, b.parts, strict=True)],
            kept=a.kept + b.kept,
            carried=a.carried + b.carried,
        )

    def min_floor(
        self, amount: int, edges: Sequence[Edge], params: Mapping[str, Any], dim: str
    ) -> _Split:
        n = len(edges)
        floor_units = _percent_units(params["floor_percent"], "floor_percent", allow_zero=True)
        floor_units = min(floor_units, PERCENT_SCALE // n)
        pieces = split_by_weights(amount, [floor_units] * n + [PERCENT_SCALE - floor_units * n])
        pool = self.proportional(pieces[-1], edges, params, dim)
        return _Split(
            [f + p for f, p in zip(pieces[:-1], pool.parts, strict=True)],
            kept=pool.kept,
            carried=pool.carried,
        )

    def split_group(
        self, amount: int, edges: Sequence[Edge], dim: str, rules: list[tuple[str, Mapping]]
    ) -> _Split:
        strategy, params = rules[0]
        if strategy == EQUAL:
            return self.equal(amount, edges)
        if strategy in (PROPORTIONAL, WEIGHTED_AVERAGE):
            return self.proportional(amount, edges, params, dim)
        if strategy == CAPPED_PROPORTIONAL:
            return self.capped(amount, edges, [p for _, p in rules], dim)
        if strategy == RESIDUAL_TO_MAX:
            return self.residual_to_max(amount, edges, params, dim)
        if strategy == HYBRID_FIXED_PROPORTIONAL:
            return self.hybrid(amount, edges, params, dim)
        if strategy == MIN_FLOOR_PROPORTIONAL:
            return self.min_floor(amount, edges, params, dim)
        raise ParameterError(f"Unknown strategy '{strategy}'.", field="strategy")

    def _plan(self, edges: Sequence[Edge], dim: str) -> tuple:
        """How a parent's edges split in a dimension; the same for every dimension unless an
        edge overrides it, so it is worked out once per parent (and overridden dimension)."""
        parent = edges[0].parent
        dims = self._overridden.get(parent)
        if dims is None:
            dims = self._overridden[parent] = {d for e in edges if e.overrides for d in e.overrides}
        key = (parent, dim if dim in dims else None)
        plan = self._plans.get(key)
        if plan is None:
            rules = [e.rule_for(dim) for e in edges]
            fixed = [i for i, (s, _) in enumerate(rules) if s == FIXED_PERCENT]
            others = [i for i, (s, _) in enumerate(rules) if s != FIXED_PERCENT]
            shares = [_percent_units(rules[i][1]["percent"], "percent") for i in fixed]
            remaining = PERCENT_SCALE - sum(shares)
            if remaining < 0:
                names = ", ".join(str(edges[i].child) for i in fixed)
                raise ParameterError(
                    f"Fixed shares of node {edges[0].parent} exceed 100 % (children {names})."
                )
            plan = (
                fixed,
                [*shares, remaining],
                others,
                [edges[i] for i in others],
                [rules[i] for i in others],
            )
            self._plans[key] = plan
        return plan

    def split_parent(self, amount: int, edges: Sequence[Edge], dim: str) -> _Split:
        """Split a parent's holistic ``amount`` over all its outgoing ``edges`` (sorted)."""
        fixed, fixed_weights, others, other_edges, other_rules = self._plan(edges, dim)
        if not fixed:
            return self.split_group(amount, other_edges, dim, other_rules)
        parts = [0] * len(edges)
        pieces = split_by_weights(amount, fixed_weights)
        for i, piece in zip(fixed, pieces, strict=False):
            parts[i] = piece
        rest = pieces[-1]
        if not others:
            return _Split(parts, kept=rest)
        sub = self.split_group(rest, other_edges, dim, other_rules)
        for i, part in zip(others, sub.parts, strict=True):
            parts[i] = part
        return _Split(parts, kept=sub.kept, carried=sub.carried)


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
        for dim in sorted(direct.keys() | received.keys()):
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
