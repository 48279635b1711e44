"""Demo step for ``costtrack demo``: daily EUR/GBP rates and 12 months of costs.

Deterministic (fixed random seed) and idempotent: rates are (re)loaded by (currency, day),
and every cost is created with an ``Idempotency-Key`` of its own (``demo-cost-<n>``), so a
second run finds the first run's costs and writes nothing new. Everything goes through the
costs services, so costs are converted, routed, decided and audited like real ones.
"""

import io
import random
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from costtrack.core.exceptions import ApplicationError
from costtrack.core.money import round_money
from costtrack.core.roles import FINANCE
from orgunits.models import Membership, OrganizationUnit, Resource

from . import services
from .approvers import can_decide
from .models import Cost, CostCategory

SEED = 20250301
MONTHS = 12
# Enough rows for the dashboards, few enough that ``make run`` stays quick on SQLite.
RESOURCES_PER_MONTH = 18
UNITS_PER_MONTH = 10
RATE_START = {"EUR": Decimal("1.0850"), "GBP": Decimal("1.2700")}

SERVICE_CATEGORIES = {
    "ec2": "compute",
    "compute": "compute",
    "eks": "compute",
    "lambda": "compute",
    "gke": "compute",
    "aks": "compute",
    "virtual machines": "compute",
    "s3": "storage",
    "storage": "storage",
    "blob": "storage",
    "rds": "database",
    "sql": "database",
    "dynamodb": "database",
    "bigquery": "database",
    "cloudfront": "network",
    "vpc": "network",
    "network": "network",
    "bedrock": "llm_inference",
    "vertex": "llm_inference",
    "openai": "llm_inference",
}
UNIT_COSTS = [
    ("saas", "Team collaboration seats", (Decimal("150"), Decimal("900"))),
    ("license", "IDE and tooling licences", (Decimal("80"), Decimal("600"))),
    ("labor", "Contractor hours", (Decimal("1200"), Decimal("6500"))),
    ("api_calls", "Third-party API usage", (Decimal("20"), Decimal("400"))),
    ("llm_embedding", "Embedding batch jobs", (Decimal("15"), Decimal("250"))),
    ("other", "Office supplies", (Decimal("10"), Decimal("120"))),
]


def _rates_csv(start: date, end: date, rnd: random.Random) -> str:
    lines = ["date,currency,rate"]
    for currency, rate in RATE_START.items():
        day = start
        while day <= end:
            step = Decimal(rnd.randint(-40, 40)) / Decimal(10000)
            rate = max(Decimal("0.5"), rate + step)
            lines.append(f"{day.isoformat()},{currency},{rate:.4f}")
            day += timedelta(days=1)
    return "\n".join(lines) + "\n"


def _category_for(resource: Resource, categories: dict[str, CostCategory], rnd) -> CostCategory:
    service = (resource.service or resource.name).lower()
    for needle, slug in SERVICE_CATEGORIES.items():
        if needle in service and slug in categories:
            return categories[slug]
    return categories[rnd.choice(["compute", "storage", "network", "database"])]


def _status_for(day: date, today: date, rnd: random.Random) -> str:
    age = (today - day).days
    roll = rnd.random()
    if age > 45:
        mix = [(0.86, "approved"), (0.92, "rejected"), (0.95, "voided"), (0.98, "cancelled")]
    else:
        mix = [(0.45, "approved"), (0.85, "pending"), (0.9, "rejected"), (0.95, "draft")]
    for threshold, status in mix:
        if roll < threshold:
            return status
    return "approved" if age > 45 else "cancelled"


def _amount(low: Decimal, high: Decimal, currency: str, rnd: random.Random) -> Decimal:
    value = low + (high - low) * Decimal(rnd.random())
    return round_money(value, currency)


def _decide(cost: Cost, status: str, finance_user, deciders: list) -> None:
    if status in ("draft", "pending"):
        return
    if status == "cancelled":
        services.cost_cancel(cost=cost, acting_user=cost.submitted_by, comment="Not needed")
        return
    decider = next((u for u in deciders if can_decide(u, cost)), None) or finance_user
    if decider is None or decider.pk == cost.submitted_by_id:
        return
    if status == "rejected":
        services.cost_reject(
            cost=cost, acting_user=decider, comment="Please book this on the right unit."
        )
        return
    cost = services.cost_approve(cost=cost, acting_user=decider, comment="OK")
    if status == "voided" and finance_user is not None:
        services.cost_void(cost=cost, acting_user=finance_user, reason="Duplicate invoice")


def seed_costs(*, stdout=None, context: dict | None = None) -> dict:
    """Load daily EUR and GBP rates for the last 13 months and ~12 months of costs in USD,
    EUR and GBP on the demo organisation's resources and units, with a realistic mix of
    statuses (older months mostly approved; recent ones pending, some drafts, rejections,
    voids and cancellations). Returns ``{"costs_created": n}``."""
    # deterministic demo data: a seeded PRNG, nothing secret
    rates_rnd = random.Random(SEED)  # nosec B311
    rnd = random.Random(SEED + 1)  # nosec B311
    today = timezone.localdate()
    first_month = date(today.year, today.month, 1)
    for _ in range(MONTHS - 1):
        first_month = (first_month - timedelta(days=1)).replace(day=1)
    rates_start = first_month - timedelta(days=31)
    services.exchange_rates_load_csv(io.StringIO(_rates_csv(rates_start, today, rates_rnd)))

    User = get_user_model()
    finance_user = (
        User.objects.filter(groups__name=FINANCE, is_active=True).order_by("pk").first()
        or User.objects.filter(is_superuser=True).order_by("pk").first()
    )
    categories = {c.slug: c for c in CostCategory.objects.all()}
    if "other" not in categories:
        categories["other"] = services.category_default()
    units = list(OrganizationUnit.objects.filter(active=True).order_by("tree_id", "lft"))
    members: dict[int, list] = {}
    for membership in Membership.objects.select_related("user").order_by("pk"):
        members.setdefault(membership.unit_id, []).append(membership.user)
    deciders = list(
        User.objects.filter(is_active=True).filter(
            pk__in=[u.owner_id for u in units if u.owner_id]
            + list(
                Membership.objects.filter(role=Membership.Role.APPROVER).values_list(
                    "user_id", flat=True
                )
            )
        )
    )
    resources = list(Resource.objects.select_related("organization_unit", "owner").order_by("pk"))

    def submitter_for(unit: OrganizationUnit):
        people = members.get(unit.pk) or ([unit.owner] if unit.owner else [])
        return rnd.choice(people) if people else finance_user

    created = skipped = 0
    counter = 0
    month = first_month
    while month <= today:
        days_in_month = ((month + timedelta(days=32)).replace(day=1) - month).days
        last_day = min(today, month + timedelta(days=days_in_month - 1))
        plan = []
        for resource in rnd.sample(resources, min(len(resources), RESOURCES_PER_MONTH)):
            for _ in range(rnd.randint(1, 2)):
                plan.append(("resource", resource))
        sub_units = [u for u in units if u.level > 0]
        for unit in rnd.sample(sub_units, min(len(sub_units), UNITS_PER_MONTH)):
            if rnd.random() < 0.8:
                plan.append(("unit", unit))
        for target_kind, target in plan:
            counter += 1
            day = month + timedelta(days=rnd.randint(0, (last_day - month).days))
            currency = rnd.choices(["USD", "EUR", "GBP"], weights=[70, 20, 10])[0]
            if target_kind == "resource":
                unit = target.organization_unit
                category = _category_for(target, categories, rnd)
                low, high, description = Decimal("25"), Decimal("2400"), f"{target.name} usage"
                link = {"resource": target}
            else:
                unit = target
                slug, description, (low, high) = rnd.choice(UNIT_COSTS)
                category = categories.get(slug) or categories["other"]
                link = {"organization_unit": target}
            submitter = submitter_for(unit)
            if submitter is None:
                continue
            amount = _amount(low, high, currency, rnd)
            if rnd.random() < 0.03:
                amount, description = -amount, f"Credit: {description}"
            status = _status_for(day, today, rnd)
            try:
                result = services.cost_create(
                    submitted_by=submitter,
                    amount=amount,
                    currency=currency,
                    incurred_on=day,
                    category=category,
                    description=description,
                    tags={"env": rnd.choice(["prod", "prod", "staging", "dev"])},
                    metadata={"demo": True},
                    source=Cost.Source.API if target_kind == "resource" else Cost.Source.MANUAL,
                    draft=status == "draft",
                    idempotency_key=f"demo-cost-{counter}",
                    **link,
                )
                if result.created:
                    created += 1
                    _decide(result.cost, status, finance_user, deciders)
            except ApplicationError:
                # e.g. a demo budget that blocks: the cost is simply not part of the demo
                skipped += 1
        month = (month + timedelta(days=32)).replace(day=1)
    if stdout is not None:
        stdout.write(f"  costs: {created} created, {skipped} refused, rates from {rates_start}")
    return {"costs_created": created}
