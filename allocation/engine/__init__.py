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
- ``residual_to_max`` [metric]: the remainder (the amount left after the parent's
  ``fixed_percent`` shares) goes, all of it, to the child with the highest usage of the metric
  in the period; the other children get nothing. A tie goes to the lowest node id; no usage
  at all falls back to ``equal``. Parent 1,000.00, one child at ``fixed_percent`` 30 % and two
  ``residual_to_max`` children with usage 100 and 400: 300.00, 0.00 and 700.00.
- ``weighted_average`` [metric, window_days, decay?]: proportional on the usage of the
  ``window_days`` days ending with the period, each day weighted by ``decay ** age_in_days``.
- ``hybrid_fixed_proportional`` [metric, fixed_percent]: ``fixed_percent`` of the amount is
  split equally, the rest proportionally.
- ``min_floor_proportional`` [metric, floor_percent]: each child gets ``floor_percent`` of the
  amount, the rest is split proportionally.

The non-``fixed_percent`` edges of a parent share one strategy per dimension (the services
refuse anything else); the engine uses the strategy of the first such edge by child id.
"""

from .compute import (
    allocate,
    build_ledger,
    check_invariants,
    fingerprint,
)
from .datatypes import (
    ACCOUNT_CARRIED_FORWARD,
    ACCOUNT_INFRASTRUCTURE,
    ACCOUNT_NODE,
    CAPPED_PROPORTIONAL,
    EQUAL,
    FIXED_PERCENT,
    HYBRID_FIXED_PROPORTIONAL,
    LEDGER_COST_ALLOCATED,
    LEDGER_COST_INCURRED,
    LEDGER_LOSS_FORWARD,
    MAX_WINDOW_DAYS,
    MIN_FLOOR_PROPORTIONAL,
    NODE_KINDS,
    PERCENT_DECIMALS,
    PERCENT_SCALE,
    PLATFORM,
    PRODUCT,
    PROPORTIONAL,
    RESIDUAL_TO_MAX,
    RESOURCE,
    SHARED_SERVICE,
    STRATEGIES,
    USAGE_DECIMALS,
    WEIGHTED_AVERAGE,
    AllocationInput,
    AllocationOutcome,
    CycleError,
    Edge,
    EngineError,
    Flow,
    Invariants,
    LedgerRow,
    Node,
    NodeResult,
    ParameterError,
    Usage,
)
from .graph import (
    find_cycle,
    topological_order,
)
from .rules import (
    check_parent_rules,
    fixed_share_units,
    validate_overrides,
    validate_parameters,
)
from .splitting import (
    split_by_weights,
)

__all__ = [
    "EQUAL",
    "PROPORTIONAL",
    "FIXED_PERCENT",
    "CAPPED_PROPORTIONAL",
    "RESIDUAL_TO_MAX",
    "WEIGHTED_AVERAGE",
    "HYBRID_FIXED_PROPORTIONAL",
    "MIN_FLOOR_PROPORTIONAL",
    "STRATEGIES",
    "RESOURCE",
    "SHARED_SERVICE",
    "PLATFORM",
    "PRODUCT",
    "NODE_KINDS",
    "PERCENT_DECIMALS",
    "PERCENT_SCALE",
    "USAGE_DECIMALS",
    "MAX_WINDOW_DAYS",
    "LEDGER_COST_INCURRED",
    "LEDGER_COST_ALLOCATED",
    "LEDGER_LOSS_FORWARD",
    "ACCOUNT_NODE",
    "ACCOUNT_INFRASTRUCTURE",
    "ACCOUNT_CARRIED_FORWARD",
    "EngineError",
    "ParameterError",
    "CycleError",
    "Node",
    "Edge",
    "Usage",
    "AllocationInput",
    "NodeResult",
    "Flow",
    "LedgerRow",
    "Invariants",
    "AllocationOutcome",
    "split_by_weights",
    "validate_parameters",
    "validate_overrides",
    "fixed_share_units",
    "check_parent_rules",
    "find_cycle",
    "topological_order",
    "allocate",
    "build_ledger",
    "check_invariants",
    "fingerprint",
]
