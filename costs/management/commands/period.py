"""``costtrack period create|calculate|close|list`` (seed 004, SPEC 3.3).

    costtrack period create 2025-03            (or --start 2025-03-01 --end 2025-03-31)
    costtrack period calculate 2025-03 [--json] generate recurring costs, show the totals
    costtrack period close 2025-03 [--allow-pending] [--queue] [--json]
    costtrack period list [--status open|closing|closed] [--json]

``close`` runs the close pipeline here (``--queue`` sends it to the workers instead); a close
held back by pending costs exits non-zero listing them. Writes act as ``--user USERNAME``.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from costtrack.core.exceptions import ApplicationError

from .cost import ProgressBar, acting_user, add_user_argument, parse_day, refusal, table

STATUSES = ("open", "closing", "closed")


def _period_dict(period) -> dict:
    return {
        "id": period.pk,
        "period": period.label,
        "start": str(period.start),
        "end": str(period.end),
        "status": period.status,
        "totals": period.totals,
        "pending_at_close": period.pending_at_close,
        "closed_at": period.closed_at.isoformat() if period.closed_at else None,
        "closed_by": period.closed_by.username if period.closed_by_id else None,
    }


class Command(BaseCommand):
    help = "Manage accounting periods: create, calculate, close, list."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)

        create = sub.add_parser("create", help="Create an open period.")
        create.add_argument("period", nargs="?", help="YYYY-MM")
        create.add_argument("--start", type=parse_day, help="First day (instead of YYYY-MM).")
        create.add_argument("--end", type=parse_day, help="Last day, checked against --start.")
        create.add_argument("--json", action="store_true")
        add_user_argument(create)

        calculate = sub.add_parser("calculate", help="Generate recurring costs, show totals.")
        calculate.add_argument("period", help="YYYY-MM")
        calculate.add_argument("--json", action="store_true")
        add_user_argument(calculate)

        close = sub.add_parser("close", help="Close a period (generate, allocate, freeze).")
        close.add_argument("period", help="YYYY-MM")
        close.add_argument(
            "--allow-pending",
            action="store_true",
            default=None,
            help="Close even with pending costs (they are listed on the period).",
        )
        close.add_argument("--queue", action="store_true", help="Send the close to the workers.")
        close.add_argument("--json", action="store_true")
        add_user_argument(close)

        listing = sub.add_parser("list", help="List periods.")
        listing.add_argument("--status", choices=STATUSES)
        listing.add_argument("--json", action="store_true")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(options)
        except ApplicationError as exc:
            error = refusal(exc)
            if exc.code == "pending_costs":
                error = CommandError(f"{error} (--allow-pending closes anyway)")
            raise error from None

    def _period(self, label: str, *, user, check=None):
        """The period ``label``; a missing one is created open once ``check`` (given the
        unsaved period) and the finance check pass, so a refusal writes nothing."""
        from costs import periods

        periods.parse_label(label)
        return periods.period_get_or_create(label=label, acting_user=user, check=check)

    # --- create ---------------------------------------------------------------------

    def _create(self, options) -> None:
        from costs import periods

        user = acting_user(options["user"])
        label = options["period"]
        if options["start"]:
            label = periods.label_for(options["start"])
            first, last = periods.period_bounds(label)
            if options["start"] != first or (options["end"] and options["end"] != last):
                raise CommandError(
                    f"Periods run from {first} to {last} (period {label}); "
                    "give a period as YYYY-MM."
                )
        if not label:
            raise CommandError("Give the period as YYYY-MM (e.g. 2025-03) or --start DATE.")
        period = periods.period_create(label=label, acting_user=user)
        if options["json"]:
            self.stdout.write(json.dumps(_period_dict(period)))
            return
        self.stdout.write(
            self.style.SUCCESS(f"Created period {period.label}: {period.start} – {period.end}.")
        )

    # --- calculate ------------------------------------------------------------------

    def _calculate(self, options) -> None:
        from costs import periods

        user = acting_user(options["user"])
        period = self._period(options["period"], user=user)
        calc = periods.period_calculate(
            period=period, acting_user=user, progress=ProgressBar("Recurring costs", self.stderr)
        )
        if options["json"]:
            data = {"generated": calc.generated, "errors": calc.errors, "totals": calc.totals}
            self.stdout.write(json.dumps({"period": calc.period.label, **data}, indent=2))
            return
        self._write_totals(calc.period, calc.totals)
        self.stdout.write(f"Recurring costs generated now: {calc.generated}")
        for error in calc.errors:
            self.stderr.write(self.style.WARNING(f"Not generated: {error}"))

    def _write_totals(self, period, totals: dict) -> None:
        currency = totals.get("currency", "")
        self.stdout.write(
            f"Period {period.label} ({period.start} – {period.end}), {period.status}; "
            f"amounts in {currency}"
        )
        rows = [
            [status, str(v["count"]), v["total"]]
            for status, v in (totals.get("by_status") or {}).items()
        ]
        if rows:
            self.stdout.write(table(rows, ["STATUS", "COSTS", "TOTAL"]))
        else:
            self.stdout.write("No costs in this period.")
        self.stdout.write(f"Actual (approved): {totals.get('approved')} {currency}")
        self.stdout.write(f"Committed (pending): {totals.get('pending')} {currency}")

    # --- close ----------------------------------------------------------------------

    def _close(self, options) -> None:
        from costs import periods

        user = acting_user(options["user"])
        allow = options["allow_pending"]
        period = self._period(
            options["period"],
            user=user,
            check=lambda p: periods.period_close_check(
                period=p, allow_pending=allow, acting_user=user
            ),
        )
        if options["queue"]:
            if period.status == "closed":
                self.stdout.write(f"Period {period.label} was already closed.")
                return
            periods.period_close_check(period=period, allow_pending=allow, acting_user=user)
            periods.period_close_enqueue(period=period, acting_user=user, allow_pending=allow)
            self.stdout.write(f"Close of {period.label} sent to the workers.")
            return
        was = period.status
        period = periods.period_close(
            period=period,
            acting_user=user,
            allow_pending=allow,
            progress=ProgressBar("Recurring costs", self.stderr),
        )
        if options["json"]:
            self.stdout.write(json.dumps(_period_dict(period), indent=2))
            return
        if was == "closed":
            self.stdout.write(f"Period {period.label} was already closed.")
        self._write_totals(period, period.totals)
        for name, step in (period.totals.get("steps") or {}).items():
            details = ", ".join(f"{k} {v}" for k, v in step.items())
            self.stdout.write(f"{name}: {details}")
        if period.pending_at_close:
            ids = ", ".join(f"#{p['id']}" for p in period.pending_at_close)
            self.stdout.write(self.style.WARNING(f"Closed with pending costs: {ids}"))
        self.stdout.write(self.style.SUCCESS(f"Period {period.label} is closed."))

    # --- list -----------------------------------------------------------------------

    def _list(self, options) -> None:
        from costs import periods

        rows = list(periods.period_list(status=options["status"]))
        if options["json"]:
            self.stdout.write(json.dumps([_period_dict(p) for p in rows], indent=2))
            return
        if not rows:
            self.stdout.write("No periods.")
            return
        self.stdout.write(
            table(
                [
                    [
                        p.label,
                        str(p.start),
                        str(p.end),
                        p.status,
                        p.totals.get("approved", "-"),
                        str(p.closed_at.date()) if p.closed_at else "-",
                    ]
                    for p in rows
                ],
                ["PERIOD", "START", "END", "STATUS", "APPROVED", "CLOSED"],
            )
        )
