"""Every write of the allocation app: the cost graph, usage, allocation runs, and revenue.

Graph writes validate what the engine needs (no cycle, fixed shares of a parent's edges
active on one same day at most 100 %, one rule per parent and dimension, parameters valid
for the strategy, one node per linked object, a product tree without loops) and raise
``costtrack.core.exceptions.ValidationError`` naming the nodes. Runs load a period's graph,
usage and direct costs in a handful of queries, compute in memory (``allocation.engine``)
and write results, flows and ledger in bulk. Product revenue (``revenue``) is recorded
one figure at a time or loaded from a CSV, converted to the reporting currency like costs.
"""

from .graph import (
    EDGE_FIELDS,
    GRAPH_LOCK,
    NODE_FIELDS,
    USAGE_FIELDS,
    edge_create,
    edge_delete,
    edge_update,
    edge_validate,
    node_create,
    node_delete,
    node_update,
    product_parent_validate,
    usage_record_create,
    usage_record_delete,
    usage_record_update,
    usage_records_create,
)
from .queue import (
    allocation_run_enqueue,
    allocation_run_request,
    allocation_runs_reap,
    run_job_key,
)
from .revenue import (
    REVENUE_FIELDS,
    RevenueLoad,
    check_can_write_revenue,
    parse_revenue_date,
    revenue_delete,
    revenue_load_csv,
    revenue_reconvert,
    revenue_set,
    revenue_update,
    revenue_validate,
    schedule_revenue_reconvert,
)
from .runs import (
    DEFAULT_DIMENSION,
    TRANSIENT_ERRORS,
    LoadedPeriod,
    allocation_run,
    allocation_run_execute,
    allocation_run_fail,
    allocation_run_fail_after_retries,
    load_period,
    store_outcome,
)

__all__ = [
    "GRAPH_LOCK",
    "NODE_FIELDS",
    "EDGE_FIELDS",
    "USAGE_FIELDS",
    "node_create",
    "node_update",
    "node_delete",
    "product_parent_validate",
    "edge_validate",
    "edge_create",
    "edge_update",
    "edge_delete",
    "usage_record_create",
    "usage_record_update",
    "usage_record_delete",
    "usage_records_create",
    "DEFAULT_DIMENSION",
    "TRANSIENT_ERRORS",
    "LoadedPeriod",
    "load_period",
    "store_outcome",
    "allocation_run",
    "allocation_run_enqueue",
    "allocation_run_request",
    "allocation_runs_reap",
    "run_job_key",
    "allocation_run_execute",
    "allocation_run_fail",
    "allocation_run_fail_after_retries",
    "REVENUE_FIELDS",
    "RevenueLoad",
    "check_can_write_revenue",
    "parse_revenue_date",
    "revenue_set",
    "revenue_update",
    "revenue_validate",
    "revenue_delete",
    "revenue_load_csv",
    "revenue_reconvert",
    "schedule_revenue_reconvert",
]
