"""``costtrack allocation run --period 2025-03`` (or ``--start``/``--end``), and
``costtrack allocation bench --nodes 10000 --edges 40000 --dimensions 3`` (the allocation
benchmark with every size knob; ``costtrack bench allocation --rows N`` runs the same)."""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from allocation import selectors, services
from costtrack.core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Allocation: run a period's allocation and print its reconciliation."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="Compute (or reuse) the allocation of a period.")
        run.add_argument("--period", help="A month, YYYY-MM.")
        run.add_argument("--start", type=date.fromisoformat, help="First day, YYYY-MM-DD.")
        run.add_argument("--end", type=date.fromisoformat, help="Last day, YYYY-MM-DD.")
        bench = sub.add_parser("bench", help="Benchmark compute and run at N and 2N nodes.")
        bench.add_argument("--nodes", type=int, default=10_000)
        bench.add_argument("--edges", type=int, default=None, help="Default: 4 per node.")
        bench.add_argument("--dimensions", type=int, default=3)
        bench.add_argument("--repeat", type=int, default=3)

    def handle(self, *args, action, **options):
        if action == "bench":
            self._bench(**options)
            return
        try:
            if options.get("period"):
                start, end = selectors.parse_period(options["period"])
            elif options.get("start") and options.get("end"):
                start, end = options["start"], options["end"]
            else:
                raise CommandError("Give --period YYYY-MM, or --start and --end.")
            run = services.allocation_run(period_start=start, period_end=end)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        report = selectors.reconciliation(run=run)
        report["unallocated_by_node"] = report["unallocated_by_node"][:10]
        self.stdout.write(json.dumps(report, default=str))
        if run.status != run.Status.SUCCEEDED:
            raise CommandError(f"Run #{run.pk} failed: {run.error}")

    def _bench(self, *, nodes, edges, dimensions, repeat, **options):
        from allocation import bench

        if nodes < 2 or repeat < 1 or (edges is not None and edges < 1) or dimensions < 1:
            raise CommandError("--nodes must be at least 2; --edges, --dimensions, --repeat 1.")
        for line in bench.run(
            nodes=nodes,
            edges=edges,
            dimensions=dimensions,
            repeat=repeat,
            log=lambda message: self.stderr.write(message),
        ):
            self.stdout.write(json.dumps(line, default=str))
