"""Demo step for ``costtrack demo``: budgets on the demo organisation, sized against the
spend the costs step loaded so that the budgets page shows green, amber and red bars.

Idempotent: each budget is looked up by its slug and left alone when it exists. Everything
goes through ``budgets.services`` (a budget is created with a placeholder amount, then
resized with a reason, which leaves a revision in its history), then the alert check runs
once so the alerts list has content.
"""

from decimal import ROUND_CEILING, Decimal

from django.contrib.auth import get_user_model
from django.utils.text import slugify

from costs.models import CostCategory
from costtrack.core.roles import FINANCE
from orgunits.models import OrganizationUnit

from . import selectors, services
from .models import Budget

# Per top-level division: (amount as a multiple of this month's spend, action).
SIZING = [(Decimal("1.6"), "block"), (Decimal("1.1"), "warn"), (Decimal("0.9"), "warn")]


def _acting_finance_user():
    User = get_user_model()
    return (
        User.objects.filter(groups__name=FINANCE, is_active=True).order_by("pk").first()
        or User.objects.filter(is_superuser=True).order_by("pk").first()
    )


def _sized(budget: Budget, factor: Decimal, acting_user) -> Budget:
    util = selectors.budget_utilization(budget)
    basis = max(util.spent, Decimal(100))
    amount = (basis * factor / 100).to_integral_value(rounding=ROUND_CEILING) * 100
    return services.budget_update(
        budget=budget,
        acting_user=acting_user,
        amount=amount,
        reason=f"Sized to {factor}x the current period's spend for the demo.",
    )


def _ensure(name: str, *, factor: Decimal, acting_user, **fields) -> tuple[Budget, bool]:
    existing = Budget.objects.filter(slug=slugify(name)).first()
    if existing is not None:
        return existing, False
    budget = services.budget_create(name=name, amount=Decimal(1), acting_user=acting_user, **fields)
    return _sized(budget, factor, acting_user), True


def seed_budgets(*, stdout=None, context: dict | None = None) -> dict:
    """Create the demo budgets (company, one per division, one cloud-compute budget in EUR)
    and fire the alerts they have reached. Returns ``{"budgets_created": n}``."""
    acting_user = _acting_finance_user()
    created = 0
    root = OrganizationUnit.objects.filter(parent__isnull=True, active=True).order_by("pk").first()
    if root is None or acting_user is None:
        return {"budgets_created": 0}
    _, new = _ensure(
        f"{root.name} annual",
        factor=Decimal("1.25"),
        acting_user=acting_user,
        currency="USD",
        period=Budget.Period.ANNUAL,
        organization_unit=root,
        action=Budget.Action.WARN,
    )
    created += new
    divisions = OrganizationUnit.objects.filter(parent=root, active=True).order_by("name")
    for index, division in enumerate(divisions[:6]):
        factor, action = SIZING[index % len(SIZING)]
        _, new = _ensure(
            f"{division.name} monthly",
            factor=factor,
            acting_user=acting_user,
            currency="USD",
            period=Budget.Period.MONTHLY,
            organization_unit=division,
            action=action,
        )
        created += new
    compute = CostCategory.objects.filter(slug="compute").first()
    if compute is not None:
        _, new = _ensure(
            "Cloud compute quarterly (EUR)",
            factor=Decimal("1.05"),
            acting_user=acting_user,
            currency="EUR",
            period=Budget.Period.QUARTERLY,
            organization_unit=root,
            category=compute,
            action=Budget.Action.WARN,
        )
        created += new
    alerts = services.budget_check_all()
    if stdout is not None:
        stdout.write(f"  {created} budgets created, {len(alerts)} alerts fired")
    return {"budgets_created": created}
