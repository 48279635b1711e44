"""``costtrack demo``: load realistic demo data and print the demo logins.

The data comes from a list of *demo steps*, run in order inside one transaction. A step is
a function, named by its dotted path in ``DEMO_STEPS``, with this contract::

    def seed_something(*, stdout, context: dict) -> dict | None

- ``context`` holds everything the previous steps returned, merged into one dict (the
  organisation step returns ``users``, ``units``, ``entities``, ``resources`` and
  ``credentials``); a step reads what it builds on from there;
- the dict a step returns is merged into ``context`` for the steps after it;
- a step may append ``{"username", "password", "role", "unit"}`` dicts to
  ``context["credentials"]`` for users it creates; the command prints them all at the end;
- a step writes through its app's services only, is deterministic (a fixed random seed) and
  idempotent: it looks everything up by a natural key before creating it, so running
  ``costtrack demo`` twice changes nothing.

Another app adds its demo data by writing ``<app>/demo.py`` with such a step and appending
its dotted path to ``DEMO_STEPS`` (after the steps it depends on).
"""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import import_string

DEMO_STEPS = [
    "orgunits.demo.seed_organisation",
    "costs.demo.seed_costs",
    "costs.demo_inbox.seed_waiting_costs",
    "budgets.demo.seed_budgets",
    "allocation.demo.seed_allocation",
    "allocation.demo_economics.seed_economics",
    # last: it computes the recommendations over everything the steps before it wrote
    "recommendations.demo.seed_recommendations",
]


class Command(BaseCommand):
    help = "Load realistic demo data (idempotent) and print the demo users and passwords."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-logins", action="store_true", help="Do not print the demo users at the end."
        )

    def handle(self, *args, **options):
        context: dict = {"credentials": []}
        with transaction.atomic():
            for path in DEMO_STEPS:
                step = import_string(path)
                self.stdout.write(f"- {path}")
                result = step(stdout=self.stdout, context=context)
                if result:
                    credentials = context["credentials"] + result.pop("credentials", [])
                    context.update(result)
                    context["credentials"] = credentials
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
        if not options["no_logins"]:
            self._print_logins(context["credentials"], _inbox_sizes(context["credentials"]))

    def _print_logins(self, credentials: list[dict], waiting: dict[str, int]) -> None:
        self.stdout.write("")
        self.stdout.write(
            "Demo logins (every password is demo-<username>; waiting = costs in the user's "
            "approval inbox):"
        )
        self.stdout.write(f"  {'role':<10} {'username':<22} {'password':<27} {'waiting':>7}  unit")
        seen = set()
        for row in credentials:
            if row["username"] in seen:
                continue
            seen.add(row["username"])
            self.stdout.write(
                f"  {row['role']:<10} {row['username']:<22} {row['password']:<27} "
                f"{waiting.get(row['username'], 0):>7}  {row['unit']}"
            )


def _inbox_sizes(credentials: list[dict]) -> dict[str, int]:
    """How many pending costs wait for each demo user's decision, once every step ran."""
    from django.contrib.auth import get_user_model

    from costs.selectors import costs_awaiting

    users = get_user_model().objects.filter(username__in={c["username"] for c in credentials})
    return {user.username: costs_awaiting(user).count() for user in users}
