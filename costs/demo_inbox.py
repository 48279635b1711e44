"""Demo step: every demo owner and approver finds costs waiting in their approval inbox.

The year of demo costs leaves the recent ones pending, but where they are routed depends on
the random plan: some deciders would sign in to an empty inbox. This step, run after the
costs and before the budgets (whose alerts then count these costs too), gives each owner and
approver without a waiting cost one pending cost on their own unit, recorded by a member of
that unit (finance where the unit has no other member).
"""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from costtrack.core.exceptions import ApplicationError
from costtrack.core.roles import FINANCE
from orgunits.models import Membership, OrganizationUnit

from . import services
from .models import CostCategory
from .selectors import costs_awaiting

DECIDING_ROLES = ("owner", "approver")
SMALL_AMOUNT = Decimal("24.00")
WAITING = [
    ("Conference tickets for the team", Decimal("640.00"), "other"),
    ("Design tool seats, next quarter", Decimal("318.00"), "saas"),
    ("Load-testing API credits", Decimal("1250.00"), "api_calls"),
    ("Contractor hours, release week", Decimal("2480.00"), "labor"),
]


def seed_waiting_costs(*, stdout=None, context: dict | None = None) -> dict:
    """Give each demo owner and approver with an empty inbox one cost to decide; return
    ``{"waiting_added": n}``. Idempotent: the costs carry fixed idempotency keys, and a full
    inbox gets none. (The command prints each login's inbox size once every step ran.)"""
    context = context or {}
    credentials = context.get("credentials", [])
    User = get_user_model()
    users = {
        u.username: u
        for u in User.objects.filter(username__in=[c["username"] for c in credentials])
    }
    units = {
        u.code: u
        for u in OrganizationUnit.objects.filter(
            code__in=[c["unit"] for c in credentials if c.get("unit")]
        )
    }
    finance = User.objects.filter(groups__name=FINANCE, is_active=True).order_by("pk").first()
    categories = {c.slug: c for c in CostCategory.objects.all()}
    today = timezone.localdate()
    added = 0
    for index, row in enumerate(c for c in credentials if c["role"] in DECIDING_ROLES):
        user, unit = users.get(row["username"]), units.get(row.get("unit"))
        if user is None or unit is None or costs_awaiting(user).exists():
            continue
        submitter = (
            Membership.objects.filter(unit=unit, user__is_active=True)
            .exclude(user=user)
            .select_related("user")
            .order_by("pk")
            .first()
        )
        description, amount, slug = WAITING[index % len(WAITING)]
        # a blocking demo budget refuses a large cost: a small one still fits under it
        for attempt in (amount, SMALL_AMOUNT):
            try:
                services.cost_create(
                    submitted_by=submitter.user if submitter else finance,
                    organization_unit=unit,
                    amount=attempt,
                    currency="USD",
                    incurred_on=today - timedelta(days=index % 5),
                    category=categories.get(slug) or categories.get("other"),
                    description=description,
                    tags={"env": "prod"},
                    source="manual",
                    idempotency_key=f"demo-waiting-{row['username']}",
                )
            except ApplicationError:
                continue
            added += 1
            break
    if stdout is not None:
        stdout.write(
            f"  inboxes: {added} costs added so every owner and approver has one to decide"
        )
    return {"waiting_added": added}
