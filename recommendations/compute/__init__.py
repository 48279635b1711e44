"""The five rules that find recommendations. Each ``*_candidates`` function reads a bounded
number of set-based queries (the spend summary, the latest allocation run's results, the
budgets' forecasts, the imported costs) and returns ``Candidate`` rows; it writes nothing.
``recommendations.services.recommendations_compute`` stores them.
"""

from .budgets import budget_overrun_candidates
from .common import Candidate, as_of_day
from .idle import idle_resource_candidates
from .spikes import spike_candidates
from .unallocated import unallocated_candidates
from .untagged import untagged_candidates

RULES = (
    unallocated_candidates,
    idle_resource_candidates,
    spike_candidates,
    budget_overrun_candidates,
    untagged_candidates,
)

__all__ = [
    "RULES",
    "Candidate",
    "as_of_day",
    "budget_overrun_candidates",
    "idle_resource_candidates",
    "spike_candidates",
    "unallocated_candidates",
    "untagged_candidates",
]
