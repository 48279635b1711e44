"""``costtrack revenue load FILE.csv`` (columns date,node,amount,currency) and
``costtrack revenue list [--period YYYY-MM] [--node NAME]``."""

from django.core.management.base import BaseCommand, CommandError

from allocation import economics, selectors, services
from costtrack.core.exceptions import ApplicationError
from costtrack.core.money import reporting_currency, round_money


class Command(BaseCommand):
    help = "Product revenue: load it from a CSV file, or list it."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser(
            "load",
            help="Load a CSV with columns date,node,amount,currency (date YYYY-MM-DD for a "
            "day or YYYY-MM for a month; node a product's name or id). All or nothing; a "
            "row replaces the figure of its node and date.",
        )
        load.add_argument("file", help="Path of the CSV file.")
        listing = sub.add_parser("list", help="Print revenue rows, newest first.")
        listing.add_argument("--period", help="Only this month, YYYY-MM.")
        listing.add_argument("--node", help="Only this product (name).")

    def handle(self, *args, action, **options):
        if action == "load":
            self._load(options["file"])
        else:
            self._list(options.get("period"), options.get("node"))

    def _load(self, path: str) -> None:
        try:
            result = services.revenue_load_csv(path)
        except FileNotFoundError:
            raise CommandError(f"No such file: {path}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not a UTF-8 text file.") from None
        except ApplicationError as exc:
            errors = exc.extra.get("errors") or [exc.message]
            raise CommandError("The file was not loaded:\n" + "\n".join(errors)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {result.rows} revenue row(s) from {path}: {result.created} new, "
                f"{result.replaced} replaced, {result.unchanged} unchanged."
            )
        )

    def _list(self, period: str | None, node: str | None) -> None:
        qs = economics.revenue_list(user=None)
        try:
            if period:
                start, end = selectors.parse_period(period)
                qs = qs.filter(date__gte=start, date__lte=end)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        if node:
            qs = qs.filter(node__name=node)
        code = reporting_currency()
        for row in qs.iterator(chunk_size=1000):
            label = row.date.strftime("%Y-%m") if row.grain == "month" else row.date.isoformat()
            self.stdout.write(
                f"{label:<10}  {row.node.name:<30}  {row.amount:>14} {row.currency:<4}  "
                f"{round_money(row.amount_reporting, code):>14} {code}"
            )
