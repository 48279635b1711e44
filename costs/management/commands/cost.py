"""``costtrack cost add|list|update``: recurring and one-time cost items (seed 004, SPEC 3.3).

    costtrack cost add "Hosteurope Server" --type monthly --amount 10.00 --currency EUR \\
        --start-date 2025-01-01 [--end-date …] [--category saas] \\
        [--unit CODE|--resource ID|--entity ID]
    costtrack cost add "SSL Certificate" --type one_time --amount 50.00 --date 2025-03-15
    costtrack cost list [--active|--inactive] [--period 2025-03] [--json] [--user USERNAME]
    costtrack cost update 1 --amount 12.00 --end-date 2025-12-31 [--inactive]
    costtrack cost generate [--since 2025-01-01] [--until 2025-03-31] [--json]

Writes act as ``--user USERNAME`` (default: the first superuser); ``list`` shows every item,
or what ``--user`` may see. Errors exit non-zero with the service's message naming the field.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from costtrack.core.exceptions import ApplicationError
from costtrack.core.money import reporting_currency, round_money

CADENCES = ("monthly", "quarterly", "annual", "one_time")


# --- shared with the ``period`` command ----------------------------------------------


def parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date (YYYY-MM-DD).") from None


def parse_end_day(value: str) -> date | None:
    return None if value.lower() in ("none", "") else parse_day(value)


def parse_amount(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"'{value}' is not an amount (e.g. 10.00).") from None
    if not amount.is_finite():
        raise argparse.ArgumentTypeError("The amount must be a finite number.")
    return amount


def add_user_argument(parser) -> None:
    parser.add_argument(
        "--user", help="Act as this user (default: the first superuser).", default=None
    )


def acting_user(username: str | None):
    User = get_user_model()
    if username:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named '{username}'.")
        return user
    user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if user is None:
        raise CommandError(
            "No superuser exists to act as: create one (costtrack createsuperuser) "
            "or pass --user USERNAME."
        )
    return user


def money(amount, currency: str) -> str:
    return str(round_money(amount, currency))


def refusal(exc: ApplicationError) -> CommandError:
    where = f"{exc.field}: " if exc.field else ""
    return CommandError(f"{where}{exc.message}")


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain text table, columns padded to their widest cell."""
    cells = [headers, *rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


class ProgressBar:
    """``label [#####-----] 5/10`` redrawn in place on stderr (a command's ``self.stderr``)."""

    def __init__(self, label: str, stream=None, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream or sys.stderr, width

    def __call__(self, done: int, total: int) -> None:
        filled = self.width if not total else self.width * done // total
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\n" if done >= total else ""
        text = f"\r{self.label} [{bar}] {done}/{total}{end}"
        if isinstance(self.stream, OutputWrapper):
            self.stream.write(text, ending="")
        else:
            self.stream.write(text)
        self.stream.flush()


# --- the command ----------------------------------------------------------------------


def _item_dict(item) -> dict:
    return {
        "id": item.pk,
        "name": item.name,
        "type": item.cadence,
        "amount": money(item.amount, item.currency),
        "currency": item.currency,
        "start_date": str(item.start_date),
        "end_date": str(item.end_date) if item.end_date else None,
        "category": item.category.slug,
        "organization_unit": item.organization_unit.code,
        "resource": item.resource_id,
        "entity": item.entity_id,
        "description": item.description,
        "tags": item.tags,
        "active": item.active,
    }


class Command(BaseCommand):
    help = "Manage recurring and one-time cost items: add, list, update, generate."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)

        add = sub.add_parser("add", help="Register a recurring or one-time cost.")
        add.add_argument("name")
        add.add_argument("--type", dest="cadence", choices=CADENCES, required=True)
        add.add_argument("--amount", type=parse_amount, required=True)
        add.add_argument(
            "--currency", default=None, help="ISO code (default: the reporting currency)."
        )
        add.add_argument("--start-date", "--date", dest="start_date", type=parse_day, required=True)
        add.add_argument("--end-date", type=parse_day, default=None)
        add.add_argument("--category", help="Category slug (default: other).")
        target = add.add_mutually_exclusive_group()
        target.add_argument("--unit", help="Organisation unit code.")
        target.add_argument("--resource", type=int, help="Resource id.")
        target.add_argument("--entity", type=int, help="Entity id.")
        add.add_argument("--description", default="")
        add.add_argument("--tag", action="append", default=[], help="KEY=VALUE (repeatable).")
        add.add_argument("--json", action="store_true", help="Print JSON.")
        add_user_argument(add)

        listing = sub.add_parser("list", help="List cost items.")
        state = listing.add_mutually_exclusive_group()
        state.add_argument("--active", action="store_const", const=True, dest="active")
        state.add_argument("--inactive", action="store_const", const=False, dest="active")
        listing.add_argument("--period", help="Only items due in this period (YYYY-MM).")
        listing.add_argument("--json", action="store_true", help="Print JSON.")
        listing.add_argument("--user", default=None, help="Only what this user may see.")

        generate = sub.add_parser("generate", help="Book the costs due (default: up to today).")
        generate.add_argument("--since", type=parse_day, help="First due day to book.")
        generate.add_argument("--until", type=parse_day, help="Last due day (default: today).")
        generate.add_argument("--json", action="store_true", help="Print JSON.")

        update = sub.add_parser("update", help="Change a cost item.")
        update.add_argument("id", type=int)
        update.add_argument("--name")
        update.add_argument("--amount", type=parse_amount)
        update.add_argument("--currency")
        update.add_argument("--end-date", type=parse_end_day, default=argparse.SUPPRESS)
        update.add_argument("--category")
        update.add_argument("--description")
        toggle = update.add_mutually_exclusive_group()
        toggle.add_argument("--active", action="store_const", const=True, dest="active")
        toggle.add_argument("--inactive", action="store_const", const=False, dest="active")
        update.add_argument("--json", action="store_true", help="Print JSON.")
        add_user_argument(update)

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(options)
        except ApplicationError as exc:
            raise refusal(exc) from None

    # --- add ------------------------------------------------------------------------

    def _category(self, slug: str | None):
        from costs.models import CostCategory

        if not slug:
            return None
        category = CostCategory.objects.filter(slug=slug).first()
        if category is None:
            raise CommandError(f"category: no category with slug '{slug}'.")
        return category

    def _target(self, options) -> dict:
        from orgunits.models import Entity, OrganizationUnit, Resource

        if options.get("unit"):
            unit = OrganizationUnit.objects.filter(code=options["unit"]).first()
            if unit is None:
                raise CommandError(f"unit: no organisation unit with code '{options['unit']}'.")
            return {"organization_unit": unit}
        if options.get("resource"):
            resource = Resource.objects.filter(pk=options["resource"]).first()
            if resource is None:
                raise CommandError(f"resource: no resource {options['resource']}.")
            return {"resource": resource}
        if options.get("entity"):
            entity = Entity.objects.filter(pk=options["entity"]).first()
            if entity is None:
                raise CommandError(f"entity: no entity {options['entity']}.")
            return {"entity": entity}
        roots = list(OrganizationUnit.objects.filter(parent__isnull=True)[:2])
        if len(roots) != 1:
            raise CommandError("Give the target: --unit CODE, --resource ID or --entity ID.")
        return {"organization_unit": roots[0]}

    def _tags(self, pairs: list[str]) -> dict:
        tags = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise CommandError(f"tag: '{pair}' is not KEY=VALUE.")
            tags[key] = value
        return tags

    def _add(self, options) -> None:
        from costs.recurring import recurring_cost_create

        user = acting_user(options["user"])
        item = recurring_cost_create(
            name=options["name"],
            amount=options["amount"],
            currency=options["currency"] or reporting_currency(),
            cadence=options["cadence"],
            start_date=options["start_date"],
            end_date=options["end_date"],
            category=self._category(options["category"]),
            description=options["description"],
            tags=self._tags(options["tag"]),
            acting_user=user,
            **self._target(options),
        )
        if options["json"]:
            self.stdout.write(json.dumps(_item_dict(item)))
            return
        until = f" until {item.end_date}" if item.end_date else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Added cost item #{item.pk} {item.name}: {money(item.amount, item.currency)} "
                f"{item.currency} "
                f"{item.cadence} from {item.start_date}{until}."
            )
        )

    # --- list -----------------------------------------------------------------------

    def _list(self, options) -> None:
        from costs.recurring import recurring_cost_list

        # reading needs no acting user: without --user the operator sees every item
        user = acting_user(options["user"]) if options["user"] else None
        items = list(
            recurring_cost_list(user=user, active=options["active"], period=options["period"])
        )
        if options["json"]:
            self.stdout.write(json.dumps([_item_dict(i) for i in items], indent=2))
            return
        if not items:
            self.stdout.write("No cost items.")
            return
        rows = [
            [
                str(i.pk),
                i.name,
                i.cadence,
                money(i.amount, i.currency),
                i.currency,
                str(i.start_date),
                str(i.end_date or "-"),
                "yes" if i.active else "no",
                i.category.slug,
                i.organization_unit.code,
            ]
            for i in items
        ]
        headers = ["ID", "NAME", "TYPE", "AMOUNT", "CURRENCY", "START", "END", "ACTIVE"]
        self.stdout.write(table(rows, [*headers, "CATEGORY", "UNIT"]))
        monthly: dict[str, Decimal] = {}
        for i in items:
            if i.cadence == "monthly" and i.active:
                monthly[i.currency] = monthly.get(i.currency, Decimal(0)) + i.amount
        for currency, total in sorted(monthly.items()):
            self.stdout.write(f"Total monthly: {money(total, currency)} {currency}/month")

    # --- generate -------------------------------------------------------------------

    def _generate(self, options) -> None:
        from costs.recurring import recurring_costs_generate

        since, until = options["since"], options["until"]
        if since and until and until < since:
            raise CommandError("until: the last day cannot be before --since.")
        result = recurring_costs_generate(
            since=since, until=until, progress=ProgressBar("Cost items", self.stderr)
        )
        if options["json"]:
            data = {"created": result.created, "existing": result.existing}
            self.stdout.write(json.dumps({**data, "errors": result.errors}))
            return
        self.stdout.write(
            f"Generated {result.created} cost(s); {result.existing} already booked; "
            f"{result.skipped_closed} due in closed periods skipped."
        )
        for error in result.errors:
            self.stderr.write(self.style.WARNING(f"Not generated: {error}"))

    # --- update ---------------------------------------------------------------------

    def _update(self, options) -> None:
        from costs.recurring import recurring_cost_get, recurring_cost_update

        user = acting_user(options["user"])
        item = recurring_cost_get(user=user, pk=options["id"])
        fields = {
            name: options[name]
            for name in ("name", "amount", "currency", "description")
            if options.get(name) is not None
        }
        if "end_date" in options:
            fields["end_date"] = options["end_date"]
        if options.get("active") is not None:
            fields["active"] = options["active"]
        if options.get("category"):
            fields["category"] = self._category(options["category"])
        if not fields:
            raise CommandError(
                "Nothing to change: give --amount, --end-date, --active/--inactive, …"
            )
        item = recurring_cost_update(recurring_cost=item, acting_user=user, **fields)
        if options["json"]:
            self.stdout.write(json.dumps(_item_dict(item)))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Updated cost item #{item.pk} {item.name}: {money(item.amount, item.currency)} "
                f"{item.currency} "
                f"{item.cadence}, {'active' if item.active else 'inactive'}"
                + (f", ends {item.end_date}" if item.end_date else "")
                + "."
            )
        )
