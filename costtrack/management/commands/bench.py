"""``costtrack bench NAME [--rows N] [--repeat R] [--nodes N --edges E --dimensions D]``.

Runs a benchmark scenario. ``--nodes``/``--edges``/``--dimensions`` size the allocation graph.

Prints one JSON line per measurement: ``{"scenario", "ours_s", "floor_s", "ratio", ...}``.
"""

import inspect
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

from costtrack.bench import BENCH_SCENARIOS


class Command(BaseCommand):
    help = "Run a benchmark scenario and print one JSON line per measurement."

    def add_arguments(self, parser):
        parser.add_argument("scenario", choices=sorted(BENCH_SCENARIOS))
        parser.add_argument(
            "--rows",
            "--costs",
            dest="rows",
            type=int,
            default=None,
            help="Data set size: costs, rows or nodes (scenario default).",
        )
        parser.add_argument(
            "--repeat", type=int, default=5, help="Timed runs per measurement (median)."
        )
        parser.add_argument("--nodes", type=int, help="Graph nodes (allocation).")
        parser.add_argument("--edges", type=int, help="Graph edges (allocation).")
        parser.add_argument("--dimensions", type=int, help="Cost dimensions (allocation).")
        parser.add_argument(
            "--background", type=int, help="Costs already in the database (enforcement)."
        )
        parser.add_argument("--accounts", type=int, help="Billing accounts in the file (import).")
        parser.add_argument("--providers", type=int, help="Providers in the file, 1-3 (import).")
        parser.add_argument(
            "--formats", help="Comma-separated file formats to time: csv,parquet (import)."
        )
        parser.add_argument(
            "--keep-files", dest="keep_files", help="Write the generated files here (import)."
        )

    def handle(self, *args, scenario: str, rows: int | None, repeat: int, **options):
        if rows is not None and rows < 1:
            raise CommandError("--rows must be at least 1.")
        if repeat < 1:
            raise CommandError("--repeat must be at least 1.")
        run = import_string(BENCH_SCENARIOS[scenario])
        sizes = {
            name: options[name]
            for name in ("nodes", "edges", "dimensions", "background", "accounts", "providers")
            if options.get(name) is not None
        }
        texts = {
            name: options[name]
            for name in ("formats", "keep_files")
            if options.get(name) is not None
        }
        accepted = inspect.signature(run).parameters
        for name, value in sizes.items():
            if name not in accepted:
                raise CommandError(f"--{name} does not apply to the {scenario} scenario.")
            if value < 1:
                raise CommandError(f"--{name} must be at least 1.")
        for name in texts:
            if name not in accepted:
                raise CommandError(f"--{name.replace('_', '-')} does not apply to {scenario}.")
        sizes.update(texts)

        def log(message: str) -> None:
            self.stderr.write(message)

        try:
            for line in run(rows=rows, repeat=repeat, log=log, **sizes):
                self.stdout.write(json.dumps(line, default=str))
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
