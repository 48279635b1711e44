"""``costtrack rates load FILE.csv`` (columns date,currency,rate) and ``costtrack rates list``."""

from django.core.management.base import BaseCommand, CommandError

from costtrack.core.exceptions import ApplicationError
from costtrack.core.money import reporting_currency


class Command(BaseCommand):
    help = "Load exchange rates to the reporting currency from a CSV file, or list them."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="Load a CSV file with columns date,currency,rate.")
        load.add_argument("file", help="Path of the CSV file.")
        listing = sub.add_parser("list", help="Print the latest rate of each currency.")
        listing.add_argument("--currency", help="Only this currency (all of its days).")

    def handle(self, *args, action, **options):
        if action == "load":
            self._load(options["file"])
        else:
            self._list(options.get("currency"))

    def _load(self, path: str) -> None:
        from costs.services import exchange_rates_load_csv

        try:
            count = exchange_rates_load_csv(path)
        except FileNotFoundError:
            raise CommandError(f"No such file: {path}") from None
        except ApplicationError as exc:
            errors = exc.extra.get("errors") or [exc.message]
            raise CommandError("The file was not loaded:\n" + "\n".join(errors)) from None
        self.stdout.write(
            self.style.SUCCESS(f"Loaded {count} rate(s) to {reporting_currency()} from {path}.")
        )

    def _list(self, currency: str | None) -> None:
        from costs.models import ExchangeRate

        qs = ExchangeRate.objects.order_by("currency", "-date")
        if currency:
            qs = qs.filter(currency=currency.upper())
        else:
            qs = qs.order_by("currency", "-date").distinct("currency") if _pg() else qs
        seen = set()
        for rate in qs:
            if not currency and rate.currency in seen:
                continue
            seen.add(rate.currency)
            self.stdout.write(f"{rate.date} {rate.currency} {rate.rate} {reporting_currency()}")


def _pg() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"
