"""``costtrack allocation run --period 2025-03`` (or ``--start``/``--end``)."""

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

    def handle(self, *args, action, **options):
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
