"""``costtrack summaries rebuild|check|purge``: the spend summary against the raw costs.

    costtrack summaries rebuild [--from 2025-01-01] [--to 2025-03-31]
    costtrack summaries check   [--from …] [--to …] [--limit 10]
    costtrack summaries purge

Ranges cover whole months (a day inside a month takes the whole month). ``check`` compares
every summary table with the same totals computed from ``costs_cost``, to the cent, and exits
non-zero naming the first rows that differ. ``purge`` deletes rows whose costs all left.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from costs.summary.check import month_bounds, summary_differences, summary_rebuild
from costs.summary.maintain import summary_purge
from costtrack.core.exceptions import ValidationError

from .cost import parse_day


def _range(sub) -> None:
    sub.add_argument("--from", dest="start", type=parse_day, help="First day (YYYY-MM-DD).")
    sub.add_argument("--to", dest="end", type=parse_day, help="Last day (YYYY-MM-DD).")


def _label(first, last) -> str:
    if first is None and last is None:
        return "all months"
    since = first.isoformat() if first else "the first cost"
    until = last.isoformat() if last else "the last cost"
    return f"{since} to {until}"


class Command(BaseCommand):
    help = "Rebuild or check the spend summary against the raw costs."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        rebuild = sub.add_parser("rebuild", help="Recompute the summary of a range of months.")
        _range(rebuild)
        check = sub.add_parser("check", help="Compare the summary with the costs, to the cent.")
        _range(check)
        check.add_argument(
            "--limit", type=int, default=10, help="Differences shown per table (default 10)."
        )
        sub.add_parser("purge", help="Delete summary rows whose costs all left.")

    def handle(self, *args, action, **options):
        if action == "purge":
            self.stdout.write(f"Purged {summary_purge()} empty summary rows.")
            return
        start, end = options.get("start"), options.get("end")
        try:
            first, last = month_bounds(start, end)
        except ValidationError as exc:
            raise CommandError(exc.message) from None
        if action == "rebuild":
            count = summary_rebuild(start=start, end=end)
            self.stdout.write(
                f"Rebuilt the spend summary for {_label(first, last)}: {count} costs."
            )
            return
        limit = options["limit"]
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        differences = summary_differences(start=start, end=end, limit=limit)
        if differences:
            for difference in differences:
                self.stderr.write(str(difference))
            raise CommandError(
                f"The spend summary differs from the costs in {len(differences)} rows shown "
                f"({_label(first, last)}); run 'costtrack summaries rebuild' to repair it."
            )
        self.stdout.write(f"The spend summary equals the costs for {_label(first, last)}.")
