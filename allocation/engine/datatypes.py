"""Constants, errors, and the input and output types of the engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
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
