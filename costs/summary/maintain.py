"""Keeping the spend summary exact: every write to a cost's contribution adds or removes it.

The services call these inside their own transaction, around the statement that changes the
costs: ``summary_remove`` with the rows as they were, the change, then ``summary_add`` with
the rows as they are (``summary_moving`` does both around a block). Each call is one
statement on PostgreSQL whatever the number of costs (the costs read and summed once into a
materialised CTE, then one ``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE`` per table
over it, joined as data-modifying CTEs), so a bulk write stays one set-based step.
Concurrent writers meet on the summary rows' locks, taken in key order.
"""

# ruff: noqa: S608 -- SQL built from model metadata; every value is a bound parameter.

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from django.db import connection

from costtrack.core.prepared import execute_prepared, prepared_statements_enabled
from costtrack.core.prepared import numbered as number_placeholders

from .grains import COST, GRAINS, SOURCE_COLUMNS, TRACKED, TRACKED_IN, Grain

SQLITE_CHUNK = 400
# the condition of a single cost's change (``cost_save``), run as a prepared statement
# (``=`` a single id: estimated as one row, so PostgreSQL keeps the generic plan it prepared
# rather than planning each run again, as it would for ``= ANY(array)``)
ONE_COST = "c.id = %s::bigint"


def is_tracked(status: str) -> bool:
    """Whether costs of this status are summarised (every status is)."""
    return status in TRACKED


def _upsert(grain: Grain, *, sign: int, where: str | None, source: str = COST) -> str:
    """One grain's ``INSERT … SELECT … ON CONFLICT`` over ``source c``: the costs table
    filtered by ``where`` (and the tracked statuses), or (``where`` None) costs already
    chosen and summed per ``SOURCE_COLUMNS``, with their count in ``entries``."""
    keys = grain.key_columns
    sources = [grain.source(k) for k in keys]
    table = grain.table
    key_list = ", ".join(keys)
    source_list = ", ".join(sources)
    # rows are written (and their locks taken) in key order; byte order is as good an order
    # as any, and cheaper to sort by than the locale's
    order = ", ".join(grain.ordered(k, e) for k, e in zip(keys, sources, strict=True))
    condition = "TRUE" if where is None else f"{TRACKED_IN} AND ({where})"
    entries = "COUNT(*)" if where is not None else "SUM(c.entries)"
    return (
        f"INSERT INTO {table} ({key_list}, amount, amount_reporting, entries) "  # nosec B608
        f"SELECT {source_list}, SUM(c.amount) * {sign}, SUM(c.amount_reporting) * {sign}, "
        f"{entries} * {sign} FROM {grain.from_clause(source)} "
        f"WHERE {condition}{grain.extra_where()} "
        f"GROUP BY {source_list} ORDER BY {order} "
        f"ON CONFLICT ({key_list}) DO UPDATE SET "
        f"amount = {table}.amount + excluded.amount, "
        f"amount_reporting = {table}.amount_reporting + excluded.amount_reporting, "
        f"entries = {table}.entries + excluded.entries"
    )


def _summed(columns: Sequence[str], source: str, count: str) -> str:
    keys = ", ".join(f"c.{name}" for name in columns)
    return (
        f"SELECT {keys}, SUM(c.amount) AS amount, "  # nosec B608
        f"SUM(c.amount_reporting) AS amount_reporting, {count} AS entries FROM {source} c"
    ), keys


def _statement(grains: list[Grain], *, sign: int, where: str) -> str:
    """One statement for every grain (PostgreSQL). The costs are read once and summed per
    ``SOURCE_COLUMNS`` into the materialised ``src`` (each upsert reading ``costs_cost``
    again would look every cost up once per table), then summed again per the columns each
    family reads (a bulk write's costs share far fewer days, units, tags and statuses than
    they are many, and the rolled-up and tag grains multiply every row they read); each
    grain's upsert is a data-modifying CTE over its sums."""
    everything = tuple(n for n in SOURCE_COLUMNS if n not in ("amount", "amount_reporting"))
    select, keys = _summed(everything, COST, "COUNT(*)")
    ctes = [f"src AS MATERIALIZED ({select} WHERE {TRACKED_IN} AND ({where}) GROUP BY {keys})"]
    names: dict[tuple[str, ...], str] = {everything: "src"}
    parts = []
    for grain in grains:
        columns = grain.source_columns
        if columns not in names:
            names[columns] = f"src{len(names)}"
            select, keys = _summed(columns, "src", "SUM(c.entries)")
            ctes.append(f"{names[columns]} AS MATERIALIZED ({select} GROUP BY {keys})")
        parts.append(_upsert(grain, sign=sign, where=None, source=names[columns]))
    ctes += [f"g{i} AS ({sql})" for i, sql in enumerate(parts[:-1])]
    return f"WITH {', '.join(ctes)} {parts[-1]}"


def _apply(*, sign: int, where: str, params: Sequence, grains: Iterable[Grain] = GRAINS) -> None:
    grains = list(grains)
    one = [*TRACKED, *params]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(grains) > 1:
            sql = _statement(grains, sign=sign, where=where)
            if where == ONE_COST and prepared_statements_enabled():
                # one cost's submission would pay about twice the statement's run time to
                # plan its eight upserts: planned once per session instead
                execute_prepared(cursor, number_placeholders(sql), one, kind="summary")
            else:
                cursor.execute(sql, one)
        else:
            # SQLite, or one table (the rebuild's, a month at a time): its upsert straight
            # from the costs, with nothing to share
            for grain in grains:
                cursor.execute(_upsert(grain, sign=sign, where=where), one)


def _id_batches(ids: Iterable[int]) -> Iterator[tuple[str, list]]:
    ids = sorted({int(i) for i in ids})
    if not ids:
        return
    if connection.vendor == "postgresql":
        yield (ONE_COST, ids) if len(ids) == 1 else ("c.id = ANY(%s)", [ids])
        return
    for i in range(0, len(ids), SQLITE_CHUNK):
        chunk = ids[i : i + SQLITE_CHUNK]
        yield f"c.id IN ({', '.join(['%s'] * len(chunk))})", chunk


def _change(sign: int, ids, where, params, grains) -> None:
    if where is not None:
        _apply(sign=sign, where=where, params=list(params), grains=grains)
    if ids is not None:
        for condition, values in _id_batches(ids):
            _apply(sign=sign, where=condition, params=values, grains=grains)


def summary_add(
    *,
    ids: Iterable[int] | None = None,
    where: str | None = None,
    params=(),
    grains: Iterable[Grain] = GRAINS,
) -> None:
    """Add the costs given by ``ids`` or by an SQL condition on ``costs_cost c`` to the
    summary (every table, or ``grains``), as they are now (untracked statuses skipped)."""
    _change(1, ids, where, params, grains)


def summary_remove(
    *,
    ids: Iterable[int] | None = None,
    where: str | None = None,
    params=(),
    grains: Iterable[Grain] = GRAINS,
) -> None:
    """Take the costs given by ``ids`` or ``where`` out of the summary, as they are now.
    Call it before changing them."""
    _change(-1, ids, where, params, grains)


@contextmanager
def summary_moving(*, ids: Iterable[int] | None = None, where: str | None = None, params=()):
    """Remove the costs before the block and add them back after it: wrap any statement that
    changes what they contribute (status, amount, day, unit, category, resource, tags …).
    The condition must select the same costs before and after the block."""
    ids = None if ids is None else sorted({int(i) for i in ids})
    summary_remove(ids=ids, where=where, params=params)
    yield
    summary_add(ids=ids, where=where, params=params)


def cost_save(cost, *, was: str | None, **save_kwargs) -> None:
    """Save one cost and move its contribution: ``was`` is the status its row has in the
    database now (None for a new cost). The old contribution leaves the summary before the
    save, the new one enters after it."""
    if cost.pk is not None and was is not None and is_tracked(was):
        summary_remove(ids=[cost.pk])
    cost.save(**save_kwargs)
    if is_tracked(cost.status):
        summary_add(ids=[cost.pk])


ROLLED_UP_GRAINS = tuple(g for g in GRAINS if g.rolled_up)


def units_moving(*, unit_ids: Sequence[int]):
    """Around a move of these units (a subtree): their costs' contributions leave the old
    ancestors' rolled-up rows before the move and reach the new ancestors' after it."""
    return summary_moving_grains(
        where="c.organization_unit_id = ANY(%s)"
        if connection.vendor == "postgresql"
        else f"c.organization_unit_id IN ({', '.join(['%s'] * len(unit_ids))})",
        params=[list(unit_ids)] if connection.vendor == "postgresql" else list(unit_ids),
        grains=ROLLED_UP_GRAINS,
    )


@contextmanager
def summary_moving_grains(*, where: str, params, grains):
    summary_remove(where=where, params=params, grains=grains)
    yield
    summary_add(where=where, params=params, grains=grains)


def summary_purge(*, start=None, end=None) -> int:
    """Delete the rows whose costs all left (``entries`` = 0), of days/months in [start, end]
    when given; return how many."""
    deleted = 0
    with connection.cursor() as cursor:
        for grain in GRAINS:
            where, params = ["entries = 0"], []
            if start is not None:
                where.append(f"{grain.time} >= %s")
                params.append(start)
            if end is not None:
                where.append(f"{grain.time} <= %s")
                params.append(end)
            cursor.execute(
                f"DELETE FROM {grain.table} WHERE {' AND '.join(where)}",  # nosec B608
                params,
            )
            deleted += max(cursor.rowcount, 0)
    return deleted
