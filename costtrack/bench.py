"""The benchmark scenarios ``costtrack bench NAME`` runs: each app provides its own.

Each name maps to a callable ``run(*, rows, repeat, log)`` (resolved with ``import_string``)
built on ``costtrack.core.bench``, which the apps share without reaching up to this package.
"""

BENCH_SCENARIOS: dict[str, str] = {
    "rollup": "costs.bench_rollup.run",
    "enforcement": "budgets.bench.run",
    "allocation": "allocation.bench.run",
    "import": "costs.imports.bench.run",
    "pages": "costtrack.bench_pages.run",
    "recommendations": "recommendations.bench.run",
}
