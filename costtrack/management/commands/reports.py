"""``costtrack reports cost-summary|cost-trends|budget-variance|export|pnl`` (seed 004).

cost-summary --period 2025-03          approved spend of a month (or 2025, 2025-Q1, a day)
cost-trends --start 2025-01 --end 2025-03   month by month, with the change
budget-variance [--on 2025-03-31] [--periods 3]   budget vs actual vs forecast
export --format csv|json --output FILE [--period|--start/--end] [--status approved|all]
pnl --period 2025-03 [--run ID]        the product P&L of the month's allocation run

Every subcommand reads everything (an operator's command), takes ``--unit CODE`` to limit it
to a unit's subtree, prints readable tables (or ``--format json``/``csv``, money as plain
decimals in the reporting currency's minor unit) and exits non-zero with a clear message on a
bad argument.
"""

import csv
import io
import json
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from allocation import economics
from allocation.models import AllocationRun
from costs import reports
from costs.export import COST_CSV_FIELDS, cost_csv_lines, cost_csv_records
from costs.models import CostStatus
from costs.report_api import csv_cell
from costtrack.budget_variance import budget_variance
from costtrack.charts import format_money
from costtrack.core.exceptions import ApplicationError
from costtrack.core.money import reporting_currency, round_money
from orgunits.models import OrganizationUnit

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
YEAR = re.compile(r"^(\d{4})$")


def parse_period(value: str, *, name: str = "--period") -> tuple[date, date]:
    """``2025-03`` → March; ``2025-Q1``, ``2025`` and ``2025-03-14`` likewise (inclusive)."""
    try:
        if m := MONTH.match(value):
            first = date(int(m[1]), int(m[2]), 1)
            return first, reports.add_months(first, 1) - timedelta(days=1)
        if m := QUARTER.match(value):
            first = date(int(m[1]), (int(m[2]) - 1) * 3 + 1, 1)
            return first, reports.add_months(first, 3) - timedelta(days=1)
        if m := YEAR.match(value):
            return date(int(m[1]), 1, 1), date(int(m[1]), 12, 31)
        day = date.fromisoformat(value)
        return day, day
    except ValueError:
        raise CommandError(
            f"{name} {value!r} is not a period: use YYYY-MM, YYYY-Qn, YYYY or YYYY-MM-DD."
        ) from None


def table(headers: list[str], rows: list[list[Any]], *, numeric: set[int] = frozenset()) -> str:
    """A plain-text table with aligned columns (numbers to the right)."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in numeric else c.ljust(widths[i]) for i, c in enumerate(row)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *[line(r) for r in cells[1:]]])


class _Raw:
    """A command's stdout written as is (``OutputWrapper`` ends every write with a newline)."""

    def __init__(self, wrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, ending="")


class Command(BaseCommand):
    help = "Cost reports: cost-summary, cost-trends, budget-variance, export."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="report", required=True, metavar="REPORT")
        summary = sub.add_parser("cost-summary", help="Approved spend of a period.")
        summary.add_argument("--period", help="YYYY-MM (default: this month), YYYY-Qn, YYYY.")
        self._range_args(summary)
        trends = sub.add_parser("cost-trends", help="Spend month by month.")
        trends.add_argument("--start", required=True, help="First month, YYYY-MM.")
        trends.add_argument("--end", required=True, help="Last month, YYYY-MM.")
        self._common(trends)
        variance = sub.add_parser("budget-variance", help="Budget vs actual vs forecast.")
        variance.add_argument("--on", help="A day in the latest period (default: today).")
        variance.add_argument("--periods", type=int, default=1, help="Periods back (1-24).")
        self._common(variance)
        export = sub.add_parser("export", help="Export costs for accounting.")
        export.add_argument("--format", dest="fmt", choices=["csv", "json"], required=True)
        export.add_argument("--output", required=True, help="File to write ('-' for stdout).")
        export.add_argument("--period", help="YYYY-MM, YYYY-Qn, YYYY (default: everything).")
        export.add_argument("--status", choices=["approved", "pending", "all"], default="approved")
        self._range_args(export, with_format=False)
        pnl = sub.add_parser("pnl", help="Product P&L of a month's allocation run.")
        pnl.add_argument("--period", help="The run's month, YYYY-MM (its latest successful run).")
        pnl.add_argument("--run", type=int, help="A run id instead of --period.")
        pnl.add_argument("--format", dest="fmt", choices=["table", "json", "csv"], default="table")

    def _common(self, parser, *, with_format: bool = True):
        parser.add_argument("--unit", help="Limit to this unit's subtree (unit code).")
        parser.add_argument("--include-pending", action="store_true", help="Count pending too.")
        if with_format:
            parser.add_argument(
                "--format", dest="fmt", choices=["table", "json", "csv"], default="table"
            )

    def _range_args(self, parser, *, with_format: bool = True):
        parser.add_argument("--start", help="First day, YYYY-MM-DD (with --end).")
        parser.add_argument("--end", help="Last day, YYYY-MM-DD (with --start).")
        self._common(parser, with_format=with_format)

    # --- dispatch ---------------------------------------------------------------------------
    def handle(self, *args, report: str, **options):
        self.currency = reporting_currency()
        self.unit = self._unit(options.get("unit"))
        self.statuses = (
            (CostStatus.APPROVED, CostStatus.PENDING)
            if options.get("include_pending")
            else (CostStatus.APPROVED,)
        )
        handler = {
            "cost-summary": self.cost_summary,
            "cost-trends": self.cost_trends,
            "budget-variance": self.budget_variance,
            "export": self.export,
            "pnl": self.pnl,
        }[report]
        try:
            handler(**options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    def _unit(self, code: str | None) -> OrganizationUnit | None:
        if not code:
            return None
        unit = OrganizationUnit.objects.filter(code=code).first()
        if unit is None:
            raise CommandError(f"--unit: no unit with code {code!r}.")
        return unit

    def _range(self, options, *, default_this_month: bool) -> tuple[date | None, date | None]:
        period, start, end = options.get("period"), options.get("start"), options.get("end")
        if period and (start or end):
            raise CommandError("Give either --period or --start/--end, not both.")
        if period:
            return parse_period(period)
        if start or end:
            if not (start and end):
                raise CommandError("Give both --start and --end.")
            first, _ = parse_period(start, name="--start")
            _, last = parse_period(end, name="--end")
            if last < first:
                raise CommandError("--end is before --start.")
            return first, last
        if default_this_month:
            return parse_period(date.today().strftime("%Y-%m"))
        return None, None

    def _emit(self, fmt: str, data: Any, text: str, csv_rows: list[dict]) -> None:
        if fmt == "json":
            self.stdout.write(json.dumps(data, indent=2, default=str))
        elif fmt == "csv":
            out = io.StringIO()
            fields = list(csv_rows[0]) if csv_rows else []
            writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in csv_rows)
            self.stdout.write(out.getvalue(), ending="")
        else:
            self.stdout.write(text)

    def _money(self, value: Decimal) -> str:
        """For tables: ``1,234.50``."""
        return format_money(value, self.currency)

    def _amount(self, value: Decimal | None) -> str:
        """For JSON and CSV: a plain decimal in the currency's minor unit, ``1234.50``."""
        return str(round_money(value or Decimal(0), self.currency))

    # --- the reports ------------------------------------------------------------------------
    def cost_summary(self, **options):
        start, end = self._range(options, default_this_month=True)
        s = reports.cost_summary(start=start, end=end, unit=self.unit, statuses=self.statuses)
        scope = f" for {self.unit.name}" if self.unit else ""
        parts = [
            f"Cost summary {start} – {end}{scope} ({self.currency}, {' + '.join(self.statuses)})",
            "",
            f"Total: {self._money(s['total'])} {self.currency} in {s['entry_count']} costs",
        ]
        sections = [
            ("Category", [[k, self._money(v)] for k, v in s["by_category"].items()]),
            ("Resource", [[k, self._money(v)] for k, v in s["by_resource"].items()]),
            (
                "Tag",
                [
                    [f"{key}={value}", self._money(v)]
                    for key, values in s["by_tag"].items()
                    for value, v in values.items()
                ],
            ),
        ]
        for title, rows in sections:
            if rows:
                parts += ["", table([title, "Total"], rows, numeric={1})]
        data = {
            "total": self._amount(s["total"]),
            "currency": self.currency,
            "by_category": {k: self._amount(v) for k, v in s["by_category"].items()},
            "by_resource": {k: self._amount(v) for k, v in s["by_resource"].items()},
            "by_tag": {
                key: {value: self._amount(v) for value, v in values.items()}
                for key, values in s["by_tag"].items()
            },
            "entry_count": s["entry_count"],
            "period_start": s["period_start"],
            "period_end": s["period_end"],
        }
        csv_rows = [{"dimension": "total", "key": "", "total": data["total"]}]
        csv_rows += [
            {"dimension": dim[3:], "key": k, "total": v}
            for dim in ("by_category", "by_resource")
            for k, v in data[dim].items()
        ]
        csv_rows += [
            {"dimension": "tag", "key": f"{key}={value}", "total": v}
            for key, values in data["by_tag"].items()
            for value, v in values.items()
        ]
        for row in csv_rows:
            row["currency"] = self.currency
        self._emit(options["fmt"], data, "\n".join(parts), csv_rows)

    def cost_trends(self, **options):
        first, _ = parse_period(options["start"], name="--start")
        _, last = parse_period(options["end"], name="--end")
        if last < first:
            raise CommandError("--end is before --start.")
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        trend = reports.monthly_trend(
            months=months, end_month=last, unit=self.unit, statuses=self.statuses
        )
        rows, previous = [], None
        for r in trend:
            change = ""
            if previous:
                change = f"{(r['total'] - previous) * 100 / previous:+.1f} %"
            rows.append([r["month"].strftime("%Y-%m"), self._money(r["total"]), change])
            previous = r["total"]
        total = sum((r["total"] for r in trend), Decimal(0))
        rows.append(["Total", self._money(total), ""])
        text = f"Cost trends ({self.currency})\n\n" + table(
            ["Month", "Total", "Change"], rows, numeric={1, 2}
        )
        data = [
            {"month": r["month"].strftime("%Y-%m"), "total": self._amount(r["total"])}
            for r in trend
        ]
        csv_rows = [{**r, "currency": self.currency} for r in data]
        self._emit(options["fmt"], data, text, csv_rows)

    def budget_variance(self, **options):
        on = None
        if options.get("on"):
            try:
                on = date.fromisoformat(options["on"])
            except ValueError:
                raise CommandError(f"--on {options['on']!r} is not a date (YYYY-MM-DD).") from None
        if not 1 <= options["periods"] <= 24:
            raise CommandError("--periods must be between 1 and 24.")
        rows = budget_variance(on=on, periods=options["periods"], unit=self.unit)
        headers = ["Budget", "Period", "Amount", "Actual", "Committed", "Forecast", "Variance"]
        body = [
            [
                r["budget"],
                f"{r['period_start']} – {r['period_end']}",
                f"{r['amount']} {r['currency']}",
                _or_unknown(r["actual"]),
                _or_unknown(r["committed"]),
                "too early"
                if r["forecast"] is None and r["conversion_error"] is None
                else _or_unknown(r["forecast"]),
                f"{_or_unknown(r['variance'])} ({r['status']})",
            ]
            for r in rows
        ]
        text = table(headers, body, numeric={2, 3, 4, 5}) if rows else "No active budgets."
        self._emit(options["fmt"], rows, "Budget variance\n\n" + text, rows)

    def export(self, **options):
        start, end = self._range(options, default_this_month=False)
        statuses = {
            "approved": (CostStatus.APPROVED,),
            "pending": (CostStatus.PENDING,),
            "all": tuple(CostStatus.values),
        }[options["status"]]
        costs = reports.report_costs(
            start=start, end=end, unit=self.unit, statuses=statuses
        ).order_by("incurred_on", "id")
        target = options["output"]
        if target == "-":
            self._write_export(_Raw(self.stdout), options["fmt"], costs)
            return
        try:
            with Path(target).open("w", encoding="utf-8") as out:
                count = self._write_export(out, options["fmt"], costs)
        except OSError as exc:
            raise CommandError(f"--output: cannot write {target}: {exc.strerror}.") from None
        self.stdout.write(f"Wrote {count} costs to {target}.")

    def pnl(self, **options):
        run = _pnl_run(period=options.get("period"), run_id=options.get("run"))
        report = economics.product_pnl(run=run)
        currency = report["currency"]
        rows = economics.product_pnl_rows(report)

        def cells(figures: dict) -> list[str]:
            pct = figures["margin_pct"]
            return [
                *(format_money(figures[k], currency) for k in economics.PNL_FIGURES),
                f"{pct} %" if pct is not None else "–",
            ]

        def rolled(p: dict) -> list[str]:
            return ["  " * p["depth"] + f"Total {p['name']}", *cells(p["rolled_up"])]

        body, parents = [], []
        for p in report["products"]:
            while parents and parents[-1]["depth"] >= p["depth"]:
                body.append(rolled(parents.pop()))
            body.append(["  " * p["depth"] + p["name"], *cells(p["own"])])
            if p["children"]:
                parents.append(p)
        body.extend(rolled(p) for p in reversed(parents))
        body.append(["Total", *cells(report["totals"])])
        headers = ["Product", "Revenue", "Direct", "Allocated", "Holistic", "Margin", "Margin %"]
        text = (
            f"Product P&L, run #{run.pk} {run.period_start} – {run.period_end} ({currency})\n\n"
            + table(headers, body, numeric={1, 2, 3, 4, 5, 6})
        )
        data = json.loads(json.dumps(report, default=str))
        self._emit(options["fmt"], data, text, rows)

    def _write_export(self, out, fmt: str, costs) -> int:
        count = 0
        if fmt == "csv":
            for line in cost_csv_lines(costs):
                out.write(line)
                count += 1
            return count - 1  # the header
        out.write("[")
        for record in cost_csv_records(costs):
            count += 1
            row = dict(zip(COST_CSV_FIELDS, record, strict=True))
            out.write(("," if count > 1 else "") + "\n  " + json.dumps(row, default=str))
        out.write("\n]\n")
        return count


def _pnl_run(*, period: str | None, run_id: int | None) -> AllocationRun:
    succeeded = AllocationRun.objects.filter(status=AllocationRun.Status.SUCCEEDED)
    if run_id is not None:
        if period:
            raise CommandError("Give either --period or --run, not both.")
        run = succeeded.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"--run: no successful allocation run #{run_id}.")
        return run
    if not period or not MONTH.match(period):
        raise CommandError("Give --period YYYY-MM (a month) or --run ID.")
    first, last = parse_period(period)
    run = succeeded.filter(period_start=first, period_end=last).order_by("-id").first()
    if run is None:
        raise CommandError(
            f"No successful allocation run of {period}: run `costtrack allocation run "
            f"--period {period}` first."
        )
    return run


def _or_unknown(value) -> str:
    """A figure of a budget whose spend cannot be converted prints as unknown."""
    return "unknown" if value is None else str(value)
