"""What every benchmark scenario shares: timing, result lines and a throwaway schema.

``costtrack bench NAME`` runs a scenario (``costtrack.bench`` names them). A scenario is a
callable ``run(*, rows: int | None, repeat: int, log) -> Iterable[dict]``; each yielded dict
is one result line, built with ``result_line``: our time, the floor (the same work as
hand-written SQL or COPY on the same database, in the same run) and their ratio. ``log``
takes progress messages for stderr. Scenarios work in a throwaway schema (``bench_schema``)
and leave nothing behind.
"""

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection


def timed(fn: Callable[[], Any], *, repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls after one warm-up call, and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def compare(
    ours: Callable[[], Any], floor: Callable[[], Any], *, repeat: int
) -> tuple[float, float, Any, Any]:
    """Median times of ``ours`` and ``floor``, run alternately (so load on the machine weighs
    on both alike) after one warm-up each, and their last results."""
    ours_times, floor_times = [], []
    got, expected = ours(), floor()
    for _ in range(repeat):
        started = time.perf_counter()
        got = ours()
        ours_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        expected = floor()
        floor_times.append(time.perf_counter() - started)
    return statistics.median(ours_times), statistics.median(floor_times), got, expected


def result_line(scenario: str, *, ours: float, floor: float, **extra: Any) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "ours_s": round(ours, 6),
        "floor_s": round(floor, 6),
        "ratio": round(ours / floor, 3) if floor else None,
        **extra,
    }


@contextmanager
def bench_schema(name: str, models: list, *, read_public: bool = False) -> Iterator[None]:
    """Run the body with ``search_path`` set to a fresh PostgreSQL schema holding empty tables
    (with their indexes and constraints) for ``models``; drop the schema afterwards.

    The ORM and raw SQL then read and write only the throwaway tables, so a benchmark never
    touches real data and needs no migrations of its own. With ``read_public`` the tables not
    created here (groups, permissions) resolve to the public schema, searched second.
    """
    if connection.vendor != "postgresql":
        raise RuntimeError("Benchmarks need PostgreSQL (DATABASE_URL).")
    if not name.isidentifier():
        raise ValueError(f"Bad schema name {name!r}.")
    qn = connection.ops.quote_name(name)
    search_path = f"{qn}, public" if read_public else qn
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {qn} CASCADE")
        cursor.execute(f"CREATE SCHEMA {qn}")
        cursor.execute(f"SET search_path TO {search_path}")
    try:
        with connection.schema_editor() as editor:
            for model in models:
                editor.create_model(model)
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET search_path")
            cursor.execute(f"DROP SCHEMA IF EXISTS {qn} CASCADE")
