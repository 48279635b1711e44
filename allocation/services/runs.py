"""Allocation runs: load a period, compute, write results, flows and ledger in bulk."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import BigIntegerField, F, Q, Sum, TextField
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from costs.models import Cost, CostStatus
from costtrack.core.db import advisory_xact_lock
from costtrack.core.exceptions import ValidationError
from costtrack.core.money import minor_digits, reporting_currency

from .. import engine, extensions
from ..models import (
    AllocationEdge,
    AllocationFlow,
    AllocationResult,
    AllocationRun,
    CostNode,
    LedgerEntry,
    UsageRecord,
)
from .graph import check_can_change

DEFAULT_DIMENSION = "other"
# Errors the task retries (the database went away or a serialisation failure); any other
# error fails the run at once.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)

logger = logging.getLogger(__name__)


@dataclass
class LoadedPeriod:
    input: engine.AllocationInput
    currency: str
    fingerprint: str
    carried_in: int


def _window_days(edges: list[engine.Edge]) -> int:
    longest = 0
    for edge in edges:
        rules = [edge.params, *(o.get("parameters", {}) for o in (edge.overrides or {}).values())]
        for params in rules:
            window = params.get("window_days") if isinstance(params, dict) else None
            if isinstance(window, int):
                longest = max(longest, window)
    return longest


def _linked(ids: dict[int, int], column: str) -> Q:
    """Costs linked to any node through ``column``: a semi-join on the nodes' links rather
    than thousands of ids in the statement."""
    if not ids:
        return Q(pk__in=[])
    return Q(
        **{f"{column}__in": CostNode.objects.filter(**{f"{column}__isnull": False}).values(column)}
    )


def _direct_costs(
    nodes: list[tuple[int, int | None, int | None, int | None]],
    period_start: date,
    period_end: date,
    currency: str,
) -> dict[tuple[int, str], int]:
    """Approved costs of the period per (node, dimension), in reporting-currency minor units.

    A cost counts once, at the most specific node linked to it: its resource's node, else its
    entity's, else its unit's.
    """
    by_resource = {r: n for n, r, _, _ in nodes if r}
    by_entity = {e: n for n, _, e, _ in nodes if e}
    by_unit = {u: n for n, _, _, u in nodes if u}
    if not (by_resource or by_entity or by_unit):
        return {}
    rows = (
        Cost.objects.filter(
            _linked(by_resource, "resource_id")
            | _linked(by_entity, "entity_id")
            | _linked(by_unit, "organization_unit_id"),
            status=CostStatus.APPROVED,
            incurred_on__gte=period_start,
            incurred_on__lte=period_end,
        )
        .values_list("resource_id", "entity_id", "organization_unit_id", "category__dimension")
        .annotate(total=Sum("amount_reporting"))
        .order_by()
    )
    totals: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for resource_id, entity_id, unit_id, dimension, total in rows:
        node = by_resource.get(resource_id) or by_entity.get(entity_id) or by_unit.get(unit_id)
        if node is not None:
            totals[(node, dimension or DEFAULT_DIMENSION)] += total
    digits = minor_digits(currency)
    return {
        key: int(v.scaleb(digits).to_integral_value(rounding=ROUND_HALF_EVEN))
        for key, v in totals.items()
    }


def _prorate_fixed(rule: dict[str, Any], days: int, period_days: int) -> dict[str, Any]:
    """A ``fixed_percent`` rule's share scaled to the days its edge is active in a period.

    Rounded down, so the shares of edges active on different days never add up to more than
    the 100 % the graph writes allow on any one day (the smallest share stays above zero).
    """
    share = (Decimal(rule["percent"]) * days / period_days).quantize(
        Decimal(1).scaleb(-engine.PERCENT_DECIMALS), rounding=ROUND_DOWN
    )
    share = max(share, Decimal(1).scaleb(-engine.PERCENT_DECIMALS))
    return {**rule, "percent": f"{share.normalize():f}"}


def _partial_edge(
    edge: engine.Edge, active_from, active_to, period_start: date, period_end: date
) -> engine.Edge:
    """An edge active for part of the period passes on that part of its fixed shares."""
    first = max(period_start, active_from) if active_from else period_start
    last = min(period_end, active_to) if active_to else period_end
    days, period_days = (last - first).days + 1, (period_end - period_start).days + 1
    if days >= period_days:
        return edge
    params = edge.params
    if edge.strategy == engine.FIXED_PERCENT:
        params = _prorate_fixed(params, days, period_days)
    overrides = edge.overrides
    if any(o.get("strategy") == engine.FIXED_PERCENT for o in (overrides or {}).values()):
        overrides = {
            dim: (
                {**o, "parameters": _prorate_fixed(o.get("parameters") or {}, days, period_days)}
                if o.get("strategy") == engine.FIXED_PERCENT
                else o
            )
            for dim, o in overrides.items()
        }
    return edge._replace(params=params, overrides=overrides)


def _load_edges(period_start: date, period_end: date) -> list[engine.Edge]:
    """Edges active at some point of the period. Parameters arrive as JSON text and each
    distinct text is decoded once: large graphs repeat a few rules many times.

    An edge active for only part of the period keeps its strategy; its fixed shares are
    scaled to the days it is active (``_partial_edge``).
    """
    decoded: dict[str, Any] = {}

    def load(text: str | None) -> Any:
        if not text:
            return {}
        value = decoded.get(text)
        if value is None:
            value = decoded[text] = json.loads(text) or {}
        return value

    rows = (
        AllocationEdge.objects.filter(
            Q(active_from__isnull=True) | Q(active_from__lte=period_end),
            Q(active_to__isnull=True) | Q(active_to__gte=period_start),
        )
        .annotate(params_text=Cast("parameters", TextField()))
        .annotate(overrides_text=Cast("overrides", TextField()))
        .values_list(
            "parent_id",
            "child_id",
            "strategy",
            "params_text",
            "overrides_text",
            "active_from",
            "active_to",
        )
        .order_by()
    )
    edges = []
    for p, c, s, pt, ot, active_from, active_to in rows:
        edge = engine.Edge(p, c, s, load(pt), load(ot))
        if (active_from and active_from > period_start) or (active_to and active_to < period_end):
            edge = _partial_edge(edge, active_from, active_to, period_start, period_end)
        edges.append(edge)
    return edges


def load_period(*, period_start: date, period_end: date) -> LoadedPeriod:
    """Load a period's graph, usage and direct costs (seven queries, whatever the size)."""
    currency = reporting_currency()
    node_rows = list(
        CostNode.objects.values_list(
            "id", "kind", "name", "resource_id", "entity_id", "organization_unit_id"
        )
    )
    edges = _load_edges(period_start, period_end)
    window = _window_days(edges)
    usage_from = min(period_start, period_end - timedelta(days=max(window - 1, 0)))
    usage = [
        engine.Usage(*row)
        for row in UsageRecord.objects.filter(date__gte=usage_from, date__lte=period_end)
        .annotate(units=Cast(F("quantity") * 10**engine.USAGE_DECIMALS, BigIntegerField()))
        .values_list("node_id", "metric", "date", "units", "dimension")
        .order_by()
    ]
    tracked = set(
        UsageRecord.objects.filter(date__lte=period_end)
        .values_list("node_id", flat=True)
        .distinct()
        .order_by()
    )
    direct = _direct_costs(
        [(n, r, e, u) for n, _, _, r, e, u in node_rows], period_start, period_end, currency
    )
    carried_in = 0
    previous = (
        AllocationRun.objects.filter(
            status=AllocationRun.Status.SUCCEEDED, period_end=period_start - timedelta(days=1)
        )
        .order_by("-id")
        .annotate(rows_run=Coalesce("same_as_id", "id"))
        .values_list("rows_run", flat=True)
        .first()
    )
    if previous is not None:
        digits = minor_digits(currency)
        for node_id, dim, credit in LedgerEntry.objects.filter(
            run_id=previous, kind=LedgerEntry.Kind.LOSS_FORWARD, node__isnull=False
        ).values_list("node_id", "dimension", "credit"):
            units = int(credit.scaleb(digits))
            direct[(node_id, dim)] = direct.get((node_id, dim), 0) + units
            carried_in += units
    active_in_period = {u.node for u in usage if u.quantity and u.day >= period_start}
    active_in_period |= {node for (node, _), amount in direct.items() if amount}
    nodes = [
        engine.Node(n, kind, name, active=n in active_in_period or n not in tracked)
        for n, kind, name, *_ in node_rows
    ]
    inp = engine.AllocationInput(
        nodes=nodes,
        edges=edges,
        direct=direct,
        usage=usage,
        period_start=period_start,
        period_end=period_end,
        minor_digits=minor_digits(currency),
    )
    return LoadedPeriod(inp, currency, engine.fingerprint(inp), carried_in)


def _money_text(units: int, digits: int) -> str:
    if digits == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    q, r = divmod(abs(units), 10**digits)
    return f"{sign}{q}.{r:0{digits}d}"


RESULT_COLUMNS = [
    "run_id",
    "node_id",
    "dimension",
    "direct",
    "received",
    "holistic",
    "allocated_out",
    "retained",
    "carried_forward",
]
FLOW_COLUMNS = ["run_id", "from_node_id", "to_node_id", "dimension", "amount"]
LEDGER_COLUMNS = ["run_id", "entry", "kind", "account", "node_id", "dimension", "debit", "credit"]


def _copy_lines(model, columns: list[str], lines: list[str]) -> None:
    """``COPY`` pre-rendered tab-separated lines into the model's table (PostgreSQL)."""
    if not lines:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    statement = f"COPY {table} ({cols}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        copy.write("".join(lines))


def _copy_outcome(run_id: int, outcome: engine.AllocationOutcome, digits: int) -> None:
    # Amounts go over the wire as integer minor units with an exponent ("12345e-2"), which
    # PostgreSQL's numeric input reads exactly; no Decimal or float is built per value.
    e = f"e-{digits}"
    null = "\\N"
    _copy_lines(
        AllocationResult,
        RESULT_COLUMNS,
        [
            f"{run_id}\t{r.node}\t{r.dimension}\t{r.direct}{e}\t{r.received}{e}\t{r.holistic}{e}\t"
            f"{r.allocated_out}{e}\t{r.retained}{e}\t{r.carried_forward}{e}\n"
            for r in outcome.results
        ],
    )
    _copy_lines(
        AllocationFlow,
        FLOW_COLUMNS,
        [f"{run_id}\t{p}\t{c}\t{d}\t{a}{e}\n" for p, c, d, a in outcome.flows],
    )
    _copy_lines(
        LedgerEntry,
        LEDGER_COLUMNS,
        [
            f"{run_id}\t{entry}\t{kind}\t{account}\t{null if node is None else node}\t{dim}\t"
            f"{debit}{e}\t{credit}{e}\n"
            for entry, kind, account, node, dim, debit, credit in outcome.ledger
        ],
    )


def _create_outcome(run_id: int, outcome: engine.AllocationOutcome, digits: int) -> None:
    def m(units: int) -> Decimal:
        return Decimal(units).scaleb(-digits)

    AllocationResult.objects.bulk_create(
        [
            AllocationResult(
                run_id=run_id,
                node_id=r.node,
                dimension=r.dimension,
                direct=m(r.direct),
                received=m(r.received),
                holistic=m(r.holistic),
                allocated_out=m(r.allocated_out),
                retained=m(r.retained),
                carried_forward=m(r.carried_forward),
            )
            for r in outcome.results
        ],
        batch_size=2000,
    )
    AllocationFlow.objects.bulk_create(
        [
            AllocationFlow(run_id=run_id, from_node_id=p, to_node_id=c, dimension=d, amount=m(a))
            for p, c, d, a in outcome.flows
        ],
        batch_size=2000,
    )
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                run_id=run_id,
                entry=x.entry,
                kind=x.kind,
                account=x.account,
                node_id=x.node,
                dimension=x.dimension,
                debit=m(x.debit),
                credit=m(x.credit),
            )
            for x in outcome.ledger
        ],
        batch_size=2000,
    )


def store_outcome(*, run: AllocationRun, outcome: engine.AllocationOutcome, digits: int) -> None:
    """Write a computed run's results, flows and ledger in bulk (``COPY`` on PostgreSQL,
    ``bulk_create`` elsewhere), and set its totals (the caller saves ``run``)."""
    if connection.vendor == "postgresql":
        _copy_outcome(run.pk, outcome, digits)
    else:
        _create_outcome(run.pk, outcome, digits)
    inv = outcome.invariants
    run.raw_total = Decimal(inv.raw).scaleb(-digits)
    run.allocated_total = Decimal(inv.allocated).scaleb(-digits)
    run.unallocated_total = Decimal(inv.unallocated).scaleb(-digits)
    run.carried_forward_total = Decimal(inv.carried_forward).scaleb(-digits)
    run.coverage = inv.coverage
    run.invariants = inv.as_dict(digits)
    run.counts = {
        "nodes": len(outcome.order),
        "results": len(outcome.results),
        "flows": len(outcome.flows),
        "ledger": len(outcome.ledger),
        "final_cost_centres": len(outcome.final_cost_centres),
    }


def _period_lock(period_start: date, period_end: date) -> None:
    advisory_xact_lock(f"allocation.run.{period_start}.{period_end}")


def _request_lock(period_start: date, period_end: date) -> None:
    # Apart from the run lock, which a computing run holds for as long as it computes: a
    # request only waits for other requests of the period.
    advisory_xact_lock(f"allocation.request.{period_start}.{period_end}")


def _matching_run(loaded: LoadedPeriod, period_start: date, period_end: date):
    """The latest successful run of the period that computed these very inputs."""
    return (
        AllocationRun.objects.filter(
            period_start=period_start,
            period_end=period_end,
            status=AllocationRun.Status.SUCCEEDED,
            input_fingerprint=loaded.fingerprint,
            same_as__isnull=True,
        )
        .order_by("-id")
        .first()
    )


def _check_period(period_start: date, period_end: date) -> None:
    if period_end < period_start:
        raise ValidationError("The period ends before it starts.", field="period_end")
    if (period_end - period_start).days > 366:
        raise ValidationError("A run covers at most one year.", field="period_end")


def _compute_into(run: AllocationRun, loaded: LoadedPeriod) -> AllocationRun:
    run.status = AllocationRun.Status.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.input_fingerprint = loaded.fingerprint
    run.currency = loaded.currency
    outcome = engine.allocate(loaded.input)
    store_outcome(run=run, outcome=outcome, digits=loaded.input.minor_digits)
    run.invariants["carried_in"] = _money_text(loaded.carried_in, loaded.input.minor_digits)
    run.status = AllocationRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.error = ""
    run.save()
    _run_finished(run)
    return run


def _reuse_into(run: AllocationRun, existing: AllocationRun) -> AllocationRun:
    """Finish ``run`` as a copy of ``existing``, which computed the same inputs: the same
    totals, and ``same_as`` pointing at the rows it wrote (no new rows)."""
    for name in (
        "input_fingerprint",
        "currency",
        "raw_total",
        "allocated_total",
        "unallocated_total",
        "carried_forward_total",
        "coverage",
        "invariants",
        "counts",
    ):
        setattr(run, name, getattr(existing, name))
    run.same_as = existing
    run.status = AllocationRun.Status.SUCCEEDED
    run.started_at = run.started_at or timezone.now()
    run.finished_at = timezone.now()
    run.error = ""
    run.save()
    _run_finished(run)
    return run


def _run_finished(run: AllocationRun) -> None:
    for hook in extensions.run_finished_hooks():
        hook(run=run)


def _fail(run: AllocationRun, message: str) -> AllocationRun:
    run.status = AllocationRun.Status.FAILED
    run.error = message
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    return run


def allocation_run(*, period_start: date, period_end: date, acting_user=None) -> AllocationRun:
    """Run the allocation of a period now, in this process.

    Re-running a period whose inputs (graph, usage, direct costs) are unchanged returns the
    existing successful run: the same input fingerprint, no new rows. A graph the engine
    refuses gives a run with status ``failed`` and the reason in ``error``. Only finance
    (or costtrack itself, ``acting_user=None``) runs an allocation.
    """
    check_can_change(acting_user)
    _check_period(period_start, period_end)
    try:
        with transaction.atomic():
            _period_lock(period_start, period_end)
            loaded = load_period(period_start=period_start, period_end=period_end)
            existing = _matching_run(loaded, period_start, period_end)
            if existing is not None:
                return existing
            run = AllocationRun(
                period_start=period_start,
                period_end=period_end,
                currency=loaded.currency,
                created_by=acting_user,
                started_at=timezone.now(),
            )
            run.full_clean()
            run.save()
            return _compute_into(run, loaded)
    except engine.EngineError as exc:
        run = AllocationRun.objects.create(
            period_start=period_start,
            period_end=period_end,
            currency=reporting_currency(),
            created_by=acting_user,
        )
        return _fail(run, exc.message)


def allocation_run_execute(*, run_id: int) -> AllocationRun:
    """Compute a pending run (the Celery task's body). A run already done is left as it is.

    Loads the period under its run lock and computes the input fingerprint: when a
    successful run of the period computed the same inputs, the run finishes as its copy
    (``same_as``, no new rows). A graph the engine refuses, or any unexpected error, marks
    the run ``failed`` with the reason. Database errors that may pass (``TRANSIENT_ERRORS``)
    propagate for the task to retry; it fails the run once its retries are spent.
    """
    try:
        with transaction.atomic():
            run = AllocationRun.objects.select_for_update().get(pk=run_id)
            if run.status in (AllocationRun.Status.SUCCEEDED, AllocationRun.Status.FAILED):
                return run
            _period_lock(run.period_start, run.period_end)
            loaded = load_period(period_start=run.period_start, period_end=run.period_end)
            existing = _matching_run(loaded, run.period_start, run.period_end)
            if existing is not None:
                return _reuse_into(run, existing)
            return _compute_into(run, loaded)
    except engine.EngineError as exc:
        return allocation_run_fail(run_id=run_id, error=exc.message)
    except (*TRANSIENT_ERRORS, AllocationRun.DoesNotExist):
        raise
    except Exception as exc:
        logger.exception("Allocation run %s failed", run_id)
        return allocation_run_fail(run_id=run_id, error=_error_text(exc))


def _error_text(exc: BaseException) -> str:
    return f"The run stopped on an unexpected error: {type(exc).__name__}: {exc}"[:2000]


@transaction.atomic
def allocation_run_fail(*, run_id: int, error: str) -> AllocationRun:
    """Mark a run that did not finish ``failed`` with ``error``; a finished run is left as it
    is. Raises ``AllocationRun.DoesNotExist`` for an unknown id."""
    run = AllocationRun.objects.select_for_update().get(pk=run_id)
    if run.status in (AllocationRun.Status.SUCCEEDED, AllocationRun.Status.FAILED):
        return run
    return _fail(run, error)


def allocation_run_fail_after_retries(
    *, run_id: int, attempts: int, exc: BaseException
) -> AllocationRun | None:
    """The task's last word when its retries are spent: fail the run, or log if even that
    cannot be written (the run stays pending; the reaper, or the next request of its
    period, hands it over again)."""
    error = f"The database failed {attempts} times in a row: {type(exc).__name__}: {exc}"
    try:
        return allocation_run_fail(run_id=run_id, error=error[:2000])
    except DatabaseError:
        logger.exception("Allocation run %s could not be marked failed", run_id)
        return None
