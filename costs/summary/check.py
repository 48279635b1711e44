"""Rebuilding the spend summary from raw costs, and checking it against them to the cent.

``summary_rebuild`` recomputes a range of whole months (every table, both grains, a month at a
time) inside one transaction that holds writers of ``costs_cost`` off (``LOCK … IN SHARE
MODE`` on PostgreSQL), so the rebuilt rows equal the costs as committed.
``summary_differences`` compares every table with the same aggregate computed from
``costs_cost`` (a full outer join on the key), month by month, and returns the first rows that
differ.
"""

# ruff: noqa: S608 -- SQL built from model metadata; every value is a bound parameter.

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection, transaction

from costtrack.core.exceptions import ValidationError

from .grains import COST, GRAINS, TRACKED, TRACKED_IN, Grain
from .maintain import summary_add, summary_purge


@dataclass(frozen=True)
class Difference:
    table: str
    key: dict
    stored: tuple[Decimal, Decimal, int] | None  # amount, amount_reporting, entries
    computed: tuple[Decimal, Decimal, int] | None

    def __str__(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())

        def show(v):
            if v is None:
                return "no row"
            return f"amount {v[0]:f}, reporting {v[1]:f}, {v[2]} costs"

        stored, computed = show(self.stored), show(self.computed)
        return f"{self.table} ({key}): summary has {stored}; costs give {computed}"


def month_bounds(start: date | None, end: date | None) -> tuple[date | None, date | None]:
    """[start, end] widened to whole months; raises ValidationError when reversed."""
    if start is not None and end is not None and end < start:
        raise ValidationError(
            f"The range is reversed: --to {end.isoformat()} is before --from {start.isoformat()}.",
            field="to",
        )
    first = start.replace(day=1) if start else None
    last = None
    if end is not None:
        index = end.year * 12 + end.month
        last = date(index // 12, index % 12 + 1, 1) - timedelta(days=1)
    return first, last


def _range_sql(column: str, first: date | None, last: date | None) -> tuple[str, list]:
    parts, params = [], []
    if first is not None:
        parts.append(f"{column} >= %s")
        params.append(first)
    if last is not None:
        parts.append(f"{column} <= %s")
        params.append(last)
    return (" AND ".join(parts) or "TRUE"), params


def _months(cursor, first: date | None, last: date | None) -> list[tuple[date, date]]:
    """The whole months of [first, last] that hold costs or summary rows, oldest first: the
    rebuild and the check work one month at a time, so a statement's memory is bounded by a
    month of costs whatever the history (one statement over ten million costs and eight
    tables outgrew the server's memory)."""
    spans = []
    for table, column in ((COST, "incurred_on"), *((g.table, g.time) for g in GRAINS[:2])):
        where, params = _range_sql(column, first, last)
        cursor.execute(
            f"SELECT MIN({column}), MAX({column}) FROM {table} WHERE {where}",  # nosec B608
            params,
        )
        low, high = cursor.fetchone()
        if low is not None:
            spans.append((_as_date(low), _as_date(high)))
    if not spans:
        return []
    low = min(s[0] for s in spans).replace(day=1)
    high = max(s[1] for s in spans)
    months = []
    while low <= high:
        _, month_last = month_bounds(None, low)
        months.append((low, month_last))
        low = month_last + timedelta(days=1)
    return months


def _as_date(value) -> date:
    # SQLite answers MIN/MAX of a date column as text
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


@transaction.atomic
def summary_rebuild(*, start: date | None = None, end: date | None = None) -> int:
    """Recompute the summary for the whole months covering [start, end] (everything when
    both are open) from ``costs_cost``, a month and a table at a time; return the number of
    costs summarised."""
    first, last = month_bounds(start, end)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {COST} IN SHARE MODE")
        for grain in GRAINS:
            where, params = _range_sql(grain.time, first, last)
            cursor.execute(f"DELETE FROM {grain.table} WHERE {where}", params)  # nosec B608
        for month_first, month_last in _months(cursor, first, last):
            where, params = _range_sql("c.incurred_on", month_first, month_last)
            for grain in GRAINS:
                summary_add(where=where, params=params, grains=[grain])
            cursor.execute(
                f"SELECT COUNT(*) FROM {COST} c WHERE {TRACKED_IN} AND {where}",  # nosec B608
                [*TRACKED, *params],
            )
            count += cursor.fetchone()[0]
    summary_purge(start=first, end=last)
    return count


def _difference_sql(grain: Grain, first, last) -> tuple[str, list]:
    keys = grain.key_columns
    sources = [grain.source(k) for k in keys]
    computed_cols = ", ".join(f"{src} AS {key}" for src, key in zip(sources, keys, strict=True))
    where, params = _range_sql("c.incurred_on", first, last)
    stored_where, stored_params = _range_sql(grain.time, first, last)
    key_list = ", ".join(keys)
    sql = (
        f"WITH computed AS (SELECT {computed_cols}, SUM(c.amount) AS amount, "  # nosec B608
        "SUM(c.amount_reporting) AS amount_reporting, COUNT(*) AS entries "
        f"FROM {grain.from_clause()} WHERE {TRACKED_IN} AND {where}"
        f"{grain.extra_where()} GROUP BY {', '.join(sources)}), "
        f"stored AS (SELECT {key_list}, amount, amount_reporting, entries FROM {grain.table} "
        # a row whose costs all left still counts when its amounts are not zero: the next
        # cost of its key would be added to them
        "WHERE (entries <> 0 OR amount <> 0 OR amount_reporting <> 0) "
        f"AND {stored_where}) "
        f"SELECT {', '.join(f'COALESCE(s.{k}, w.{k})' for k in keys)}, "
        "s.amount, s.amount_reporting, s.entries, w.amount, w.amount_reporting, w.entries "
        f"FROM stored s FULL OUTER JOIN computed w ON "
        + " AND ".join(f"s.{k} = w.{k}" for k in keys)
        + " WHERE s.entries IS NULL OR w.entries IS NULL OR s.entries <> w.entries "
        "OR s.amount <> w.amount OR s.amount_reporting <> w.amount_reporting "
        f"ORDER BY {', '.join(f'COALESCE(s.{k}, w.{k})' for k in keys)} LIMIT %s"
    )
    return sql, [*TRACKED, *params, *stored_params]


def summary_differences(
    *, start: date | None = None, end: date | None = None, limit: int = 10
) -> list[Difference]:
    """The first ``limit`` rows (per table) where the summary and the raw costs disagree,
    for the whole months covering [start, end]; empty when they agree to the cent."""
    first, last = month_bounds(start, end)
    found: list[Difference] = []
    with connection.cursor() as cursor:
        months = _months(cursor, first, last)
        for grain in GRAINS:
            wanted = limit
            for month_first, month_last in months:
                if wanted <= 0:
                    break
                sql, params = _difference_sql(grain, month_first, month_last)
                cursor.execute(sql, [*params, wanted])
                n = len(grain.key_columns)
                for row in cursor.fetchall():
                    stored = None if row[n + 2] is None else tuple(row[n : n + 3])
                    computed = None if row[n + 5] is None else tuple(row[n + 3 : n + 6])
                    key = dict(zip(grain.key_columns, row[:n], strict=True))
                    found.append(Difference(grain.table, key, stored, computed))
                    wanted -= 1
    return found
