"""Usage weights and the eight strategies, applied to one parent at a time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Context, Decimal
from typing import Any

from .datatypes import (
    CAPPED_PROPORTIONAL,
    EQUAL,
    FIXED_PERCENT,
    HYBRID_FIXED_PROPORTIONAL,
    MIN_FLOOR_PROPORTIONAL,
    PERCENT_SCALE,
    PROPORTIONAL,
    RESIDUAL_TO_MAX,
    USAGE_DECIMALS,
    WEIGHTED_AVERAGE,
    AllocationInput,
    Edge,
    ParameterError,
    Usage,
)
from .rules import (
    _percent_units,
)
from .splitting import (
    _split_equal,
    split_by_weights,
)


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


@dataclass(slots=True)
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
        """The whole ``amount`` (what is left after the parent's ``fixed_percent`` shares) goes
        to the child with the highest usage; the others get nothing. ``edges`` are sorted by
        child id, so a tie goes to the lowest node id. No usage at all: split equally, as
        every usage-based strategy does."""
        weights = self._weights(edges, params, dim)
        if not any(weights):
            return self.equal(amount, edges)
        largest = max(range(len(weights)), key=lambda i: (weights[i], -i))
        parts = [0] * len(edges)
        parts[largest] = amount
        return _Split(parts)

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
