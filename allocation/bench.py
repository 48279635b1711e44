"""Allocation benchmark: a synthetic cost graph, timed in memory and through the database.

Scenarios, each at the given size and at twice the size:

- ``allocation.compute``: the engine alone on an in-memory graph (no floor: nothing simpler
  does the same work).
- ``allocation.run``: ``services.allocation_run`` end to end — load the graph, usage and
  approved costs (a handful of queries), compute, write results, flows and ledger — against
  PostgreSQL. The floor is the same reads as raw SQL plus the same rows written by ``COPY``
  from pre-rendered text, on the same database in the same run.

Everything is written into a throwaway PostgreSQL schema (``search_path`` puts it first), so
real data is never read or changed; the schema is dropped afterwards.
"""

from __future__ import annotations

import io
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from costtrack.core.bench import bench_schema
from costtrack.core.jobs import jobs_held

from . import engine

PERIOD_START = date(2025, 3, 1)
PERIOD_END = date(2025, 3, 31)
DIMENSIONS = ("compute", "storage", "network", "database", "api", "other")
METRICS = ("cpu_hours", "requests")
USAGE_DAYS = (PERIOD_END - timedelta(days=2), PERIOD_END - timedelta(days=1), PERIOD_END)
SCHEMA = "bench_allocation"


def build_graph(
    *, nodes: int, edges: int, dimensions: int, seed: int = 7
) -> engine.AllocationInput:
    """A random DAG: 10 % resources, 10 % shared services, 10 % platforms, 70 % products;
    edges always from a lower to a higher index; each parent with one random strategy; direct
    cost on every non-product node and on a tenth of the products, in every dimension."""
    rng = random.Random(seed)  # nosec B311 - synthetic benchmark data
    dims = DIMENSIONS[:dimensions]
    kinds = []
    for i in range(nodes):
        share = i / nodes
        kinds.append(
            engine.RESOURCE
            if share < 0.1
            else engine.SHARED_SERVICE
            if share < 0.2
            else engine.PLATFORM
            if share < 0.3
            else engine.PRODUCT
        )
    graph_nodes = [engine.Node(i + 1, kinds[i], f"node-{i + 1}") for i in range(nodes)]
    pairs: set[tuple[int, int]] = set()
    target = min(edges, nodes * (nodes - 1) // 2)
    while len(pairs) < target:
        child = rng.randrange(1, nodes)
        # Bias parents towards nearby nodes so the graph is deep, not a star.
        parent = max(0, child - 1 - int(rng.expovariate(1 / 50)))
        pairs.add((parent + 1, child + 1))
    by_parent: dict[int, list[int]] = {}
    for parent, child in sorted(pairs):
        by_parent.setdefault(parent, []).append(child)
    graph_edges = []
    for parent, children in by_parent.items():
        strategy = rng.choice(
            [engine.EQUAL, engine.PROPORTIONAL, engine.PROPORTIONAL, engine.EQUAL]
            + list(engine.STRATEGIES)
        )
        metric = rng.choice(METRICS)
        for child in children:
            params: dict[str, Any] = {
                engine.EQUAL: {},
                engine.PROPORTIONAL: {"metric": metric},
                engine.FIXED_PERCENT: {"percent": str(max(1, 90 // len(children)))},
                engine.CAPPED_PROPORTIONAL: {"metric": metric, "cap": "50000"},
                engine.RESIDUAL_TO_MAX: {"metric": metric},
                engine.WEIGHTED_AVERAGE: {"metric": metric, "window_days": 3, "decay": "0.9"},
                engine.HYBRID_FIXED_PROPORTIONAL: {"metric": metric, "fixed_percent": "20"},
                engine.MIN_FLOOR_PROPORTIONAL: {
                    "metric": metric,
                    "floor_percent": str(max(0, 50 // len(children))),
                },
            }[strategy]
            graph_edges.append(engine.Edge(parent, child, strategy, params))
    direct = {}
    for node in graph_nodes:
        if node.kind != engine.PRODUCT or rng.random() < 0.1:
            for dim in dims:
                direct[(node.id, dim)] = rng.randrange(100, 10_000_000)
    usage = [
        engine.Usage(node.id, metric, day, rng.randrange(0, 5_000) * 10**6)
        for node in graph_nodes
        for metric in METRICS
        for day in USAGE_DAYS
    ]
    return engine.AllocationInput(
        nodes=graph_nodes,
        edges=graph_edges,
        direct=direct,
        usage=usage,
        period_start=PERIOD_START,
        period_end=PERIOD_END,
    )


def _median(
    fn: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None
) -> tuple[float, float]:
    """Median wall time and median CPU time of this process over ``repeat`` calls (the CPU
    time tells how much of the wall time was ours when the machine is shared). ``setup``
    runs untimed before each call."""
    walls, cpus = [], []
    for _ in range(repeat):
        if setup is not None:
            setup()
        started, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def _line(
    scenario: str, ours: tuple[float, float], floor: float | None, **extra: Any
) -> dict[str, Any]:
    wall, cpu = ours
    return {
        "scenario": scenario,
        "ours_s": round(wall, 4),
        "floor_s": None if floor is None else round(floor, 4),
        "ratio": round(wall / floor, 2) if floor else None,
        "ours_cpu_s": round(cpu, 4),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        **extra,
    }


# --- the database part -----------------------------------------------------------------


def _bench_models() -> list:
    from costs.models import Cost, CostCategory
    from costtrack.core.models import Job
    from orgunits.models import Entity, OrganizationUnit, Resource

    from .models import (
        AllocationEdge,
        AllocationFlow,
        AllocationResult,
        AllocationRun,
        CostNode,
        LedgerEntry,
        UsageRecord,
    )

    return [
        get_user_model(),
        Job,  # the outbox, where a finished run records the work it causes
        OrganizationUnit,
        Entity,
        Resource,
        CostCategory,
        Cost,
        CostNode,
        AllocationEdge,
        UsageRecord,
        AllocationRun,
        AllocationResult,
        AllocationFlow,
        LedgerEntry,
    ]


def _copy(table: str, columns: list[str], rows) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(r"\N" if v is None else str(v) for v in row))
        buffer.write("\n")
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        copy.write(buffer.getvalue())


def load_into_database(inp: engine.AllocationInput) -> None:
    """Write the synthetic graph as real rows: nodes linked to resources whose approved costs
    are the direct costs, edges, and usage (setup, not timed)."""
    from django.utils import timezone

    now = timezone.now().isoformat()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (id, password, is_superuser, username, first_name, "
            "last_name, email, is_staff, is_active, date_joined) "
            "VALUES (1, '!', false, 'bench', '', '', '', false, true, %s)",
            [now],
        )
        cursor.execute(
            "INSERT INTO orgunits_organizationunit (id, name, code, description, active, "
            "created_at, updated_at, lft, rght, tree_id, level) "
            "VALUES (1, 'Bench', 'bench', '', true, %s, %s, 1, 2, 1, 0)",
            [now, now],
        )
        for i, dim in enumerate(DIMENSIONS, start=1):
            cursor.execute(
                "INSERT INTO costs_costcategory (id, name, slug, dimension, description, "
                "lft, rght, tree_id, level) VALUES (%s, %s, %s, %s, '', 1, 2, %s, 0)",
                [i, dim, dim, dim, i],
            )
    category = {dim: i for i, dim in enumerate(DIMENSIONS, start=1)}
    with_cost = sorted({node for node, _ in inp.direct})
    _copy(
        "orgunits_resource",
        ["id", "provider", "provider_resource_id", "account", "region", "service", "name",
         "organization_unit_id", "tags", "created_at", "updated_at"],
        ((n, "other", f"bench/{n}", "", "", "", f"r{n}", 1, "{}", now, now) for n in with_cost),
    )  # fmt: skip
    linked = set(with_cost)
    _copy(
        "allocation_costnode",
        ["id", "name", "kind", "resource_id", "description", "created_at", "updated_at"],
        ((n.id, n.name, n.kind, n.id if n.id in linked else None, "", now, now)
         for n in inp.nodes),
    )  # fmt: skip
    _copy(
        "allocation_allocationedge",
        ["parent_id", "child_id", "strategy", "parameters", "overrides", "created_at",
         "updated_at"],
        ((e.parent, e.child, e.strategy, _json(e.params), "{}", now, now) for e in inp.edges),
    )  # fmt: skip
    _copy(
        "allocation_usagerecord",
        ["node_id", "metric", "date", "quantity", "dimension", "created_at"],
        ((u.node, u.metric, u.day, u.quantity // 10**6, u.dimension, now) for u in inp.usage),
    )
    _copy(
        "costs_cost",
        ["amount", "currency", "amount_reporting", "exchange_rate", "incurred_on",
         "category_id", "description", "resource_id", "organization_unit_id", "url",
         "metadata", "tags", "source", "kind", "status", "submitted_by_id",
         "decision_comment", "created_at", "updated_at"],
        ((f"{a / 100:.2f}", "USD", f"{a / 100:.2f}", 1, date(2025, 3, 15), category[dim], "",
          n, 1, "", "{}", "{}", "import", "charge", "approved", 1, "", now, now)
         for (n, dim), a in inp.direct.items()),
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _json(value) -> str:
    import json

    return json.dumps(value).replace("\\", "\\\\")


def _truncate_runs() -> None:
    with connection.cursor() as cursor:
        # Inside an outer transaction (tests) deferred constraint checks must run first.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "TRUNCATE allocation_allocationresult, allocation_allocationflow, "
            "allocation_ledgerentry, allocation_allocationrun"
        )


def _floor(outcome: engine.AllocationOutcome) -> Callable[[], None]:
    """Raw SQL reading the same inputs and COPY writing the same output rows."""
    from .services.runs import _money_text

    def m(units: int) -> str:
        return _money_text(units, 2)

    results = [
        f"1\t{r.node}\t{r.dimension}\t{m(r.direct)}\t{m(r.received)}\t{m(r.holistic)}\t"
        f"{m(r.allocated_out)}\t{m(r.retained)}\t{m(r.carried_forward)}\n"
        for r in outcome.results
    ]
    flows = [f"1\t{f.parent}\t{f.child}\t{f.dimension}\t{m(f.amount)}\n" for f in outcome.flows]
    null = "\\N"
    ledger = [
        f"1\t{x.entry}\t{x.kind}\t{x.account}\t{null if x.node is None else x.node}\t"
        f"{x.dimension}\t{m(x.debit)}\t{m(x.credit)}\n"
        for x in outcome.ledger
    ]
    payloads = [
        (
            "allocation_allocationresult (run_id, node_id, dimension, direct, received, "
            "holistic, allocated_out, retained, carried_forward)",
            "".join(results),
        ),
        (
            "allocation_allocationflow (run_id, from_node_id, to_node_id, dimension, amount)",
            "".join(flows),
        ),
        (
            "allocation_ledgerentry (run_id, entry, kind, account, node_id, dimension, debit, "
            "credit)",
            "".join(ledger),
        ),
    ]

    def run() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in (
                "SELECT id, kind, name, resource_id FROM allocation_costnode",
                "SELECT parent_id, child_id, strategy, parameters FROM allocation_allocationedge",
                "SELECT node_id, metric, date, quantity, dimension FROM allocation_usagerecord",
                "SELECT c.resource_id, k.dimension, sum(c.amount_reporting) FROM costs_cost c "
                "JOIN costs_costcategory k ON k.id = c.category_id WHERE c.status = 'approved' "
                "GROUP BY 1, 2",
            ):
                cursor.execute(sql)
                cursor.fetchall()
            cursor.execute(
                "INSERT INTO allocation_allocationrun (id, period_start, period_end, status, "
                "input_fingerprint, currency, raw_total, allocated_total, unallocated_total, "
                "carried_forward_total, invariants, counts, error, created_at) VALUES "
                "(1, '2025-03-01', '2025-03-31', 'succeeded', '', 'USD', 0, 0, 0, 0, '{}', "
                "'{}', '', now())"
            )
            for target, text in payloads:
                with cursor.cursor.copy(f"COPY {target} FROM STDIN") as copy:
                    copy.write(text)

    return run


def scenario_lines(
    *, nodes: int, edges: int, dimensions: int, repeat: int, log: Callable[[str], None]
) -> Iterator[dict[str, Any]]:
    from . import services

    size = {"nodes": nodes, "edges": edges, "dimensions": dimensions}
    log(f"building a graph of {nodes} nodes, {edges} edges, {dimensions} dimensions")
    inp = build_graph(nodes=nodes, edges=edges, dimensions=dimensions)
    outcome = engine.allocate(inp)
    compute = _median(lambda: engine.allocate(inp), repeat)
    counts = {
        "results": len(outcome.results),
        "flows": len(outcome.flows),
        "ledger_rows": len(outcome.ledger),
        "coverage": str(outcome.invariants.coverage),
        "violations": len(outcome.invariants.violations),
    }
    yield _line("allocation.compute", compute, None, **size, **counts)

    # jobs a run records are written and timed; running them is not the run's work
    with bench_schema(SCHEMA, _bench_models(), read_public=True), jobs_held():
        log("writing the graph, usage and costs into a throwaway schema")
        load_into_database(inp)

        def end_to_end() -> None:
            run = services.allocation_run(period_start=PERIOD_START, period_end=PERIOD_END)
            if run.status != run.Status.SUCCEEDED or run.invariants["violations"]:
                raise RuntimeError(f"benchmark run failed: {run.error or run.invariants}")

        floor_fn = _floor(outcome)
        for warm_up in (end_to_end, floor_fn):
            _truncate_runs()
            warm_up()
        # Alternate ours and the floor so that load on a shared machine weighs on both alike.
        ours_times, floor_times = [], []
        for _ in range(repeat):
            ours_times.append(_median(end_to_end, 1, setup=_truncate_runs))
            floor_times.append(_median(floor_fn, 1, setup=_truncate_runs)[0])
        ours = (
            statistics.median(t[0] for t in ours_times),
            statistics.median(t[1] for t in ours_times),
        )
        floor = statistics.median(floor_times)
    yield _line("allocation.run", ours, floor, **size, **counts)


def run(
    *,
    rows: int | None = None,
    repeat: int = 3,
    log: Callable[[str], None] = lambda _: None,
    nodes: int | None = None,
    edges: int | None = None,
    dimensions: int = 3,
) -> Iterator[dict[str, Any]]:
    """The scenario entry point: ``rows`` (or ``nodes``) nodes with four edges each by
    default, then the same at twice the size."""
    nodes = nodes or rows or 10_000
    edges = edges or 4 * nodes
    dimensions = max(1, min(dimensions, len(DIMENSIONS)))
    for factor in (1, 2):
        yield from scenario_lines(
            nodes=nodes * factor,
            edges=edges * factor,
            dimensions=dimensions,
            repeat=repeat,
            log=log,
        )
