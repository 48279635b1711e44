"""The budget half of seed 001's Python API: ``BudgetManager`` beside ``CostTracker``.

    from budgets.manager import BudgetManager

    manager = BudgetManager(finance)                  # or BudgetManager(user, tracker=tracker)
    budget = manager.create("Cloud spend", Decimal("5000"), "monthly", category="compute",
                            alert_thresholds=[0.5, 0.8, 1.0])
    manager.get_utilization(budget)                   # 0.42: 42 % used
    manager.check_budgets()                           # the alerts that fired just now
    manager.can_spend(Decimal("250"), budget.slug)    # fits in what is left?

Every call goes through ``budgets.services`` and ``budgets.selectors`` with the user's
permissions, the same as the REST API: finance creates budgets and resets alerts; anyone
reads the budgets of their units (and those units' ancestors), and a budget they may not
read is unknown to them.
"""

from datetime import date, datetime
from decimal import Decimal

from costs.models import CostCategory
from costs.services.categories import category_default
from costs.tracker import CostTracker
from costtrack.core.exceptions import ValidationError
from costtrack.core.money import reporting_currency

from . import enforcement, selectors, services
from .models import Budget, BudgetAlert


class BudgetManager:
    """Budgets as ``user`` sees and may change them (seed 001).

    New budgets are for the tracker's unit (``CostTracker.home_unit()``: the given
    ``organization_unit``, else the user's first unit in tree order) in ``currency``
    (default: the reporting currency). Periods are ``hourly``, ``daily``, ``weekly``,
    ``monthly``, ``quarterly``, ``annual`` (or ``custom`` with dates via ``budgets.services``).
    Utilisation is a ``float`` ratio, as in the seed: a ratio, not money (the money behind
    it stays ``Decimal``: ``budgets.selectors.budget_utilization``).
    """

    def __init__(
        self,
        user,
        *,
        tracker: CostTracker | None = None,
        organization_unit=None,
        currency: str | None = None,
    ) -> None:
        self.user = user
        self.tracker = tracker or CostTracker(user, organization_unit=organization_unit)
        self.currency = (currency or reporting_currency()).upper()

    # --- budgets ----------------------------------------------------------------------------

    def create(
        self,
        name: str,
        amount: Decimal | str | int,
        period: str = Budget.Period.MONTHLY,
        category: CostCategory | str | None = None,
        tags_filter: dict[str, str] | None = None,
        alert_thresholds: list | None = None,
        *,
        action: str = Budget.Action.WARN,
    ) -> Budget:
        """Create a budget for the tracker's unit (finance only: ``PermissionDenied``).

        ``category`` is a slug or a category (its subcategories count too); thresholds are
        fractions of the amount (0.8 is 80 %), default 0.5, 0.8, 0.9 and 1. Bad input raises
        ``ValidationError`` naming the field, and nothing is written.
        """
        unit = self.tracker.home_unit()
        if unit is None:
            raise ValidationError(
                "The user belongs to no unit: give BudgetManager an organization_unit.",
                field="organization_unit",
            )
        return services.budget_create(
            name=name,
            amount=Decimal(str(amount)),
            currency=self.currency,
            organization_unit=unit,
            period=str(period),
            category=_category(category),
            tags_filter=tags_filter,
            alert_thresholds=alert_thresholds,
            action=action,
            acting_user=self.user,
        )

    def get_budget(self, budget_id: int | str) -> Budget | None:
        """The budget with this id or slug (seed ids such as ``cloud_spend`` match the slug
        ``cloud-spend``), or ``None`` when there is none the user may read."""
        visible = selectors.budget_list(user=self.user)
        text = str(budget_id).strip()
        if text.isdigit():
            found = visible.filter(pk=int(text)).first()
            if found is not None:
                return found
        return visible.filter(slug__in={text, text.replace("_", "-")}).first()

    def list_budgets(self) -> list[Budget]:
        """Every budget the user may read, by name."""
        return list(selectors.budget_list(user=self.user))

    # --- spend --------------------------------------------------------------------------------

    def get_utilization(self, budget: Budget, *, on: date | datetime | None = None) -> float:
        """How much of the budget its period containing ``on`` (default now) has used:
        spent / amount, where spent is approved spend plus pending costs when the budget
        counts them. 0.0 to 1.0, above 1.0 once overspent. Raises ``ValidationError``
        (code ``no_exchange_rate``) when some spend cannot be converted into the budget's
        currency, since the ratio would be wrong."""
        util = selectors.budget_utilization(budget, on=on)
        if util.conversion_gap is not None:
            raise ValidationError(
                util.conversion_gap.message, field="currency", code="no_exchange_rate"
            )
        return float(util.spent / util.amount)

    def check_budgets(self, *, on: date | datetime | None = None) -> list[BudgetAlert]:
        """Check the active budgets the user may read in their period containing ``on``
        (default now) and return the alerts that fired now. Each threshold fires once per
        period and kind (``actual``, ``forecast``): a second call returns ``[]`` until
        ``reset_period_alerts``. The owners and finance are notified as usual."""
        budgets = list(selectors.budget_list(user=self.user).filter(active=True))
        return services.budget_check_alerts(budgets=budgets, on=on)

    def can_spend(
        self,
        amount: Decimal | str | int,
        budget_id: int | str | None = None,
        *,
        currency: str | None = None,
        category: CostCategory | str | None = None,
        tags: dict[str, str] | None = None,
        on: date | None = None,
    ) -> bool:
        """Whether ``amount`` (in ``currency``, default the manager's) fits in what is left
        of a budget's period containing ``on`` (default today).

        With ``budget_id``: that budget; an unknown id (or one the user may not read) gives
        ``True``, as the seed says. Without: every budget a cost of the tracker's unit (with
        ``category`` and ``tags``) would count against, as ``POST /budgets/check/`` does.
        Nothing is written or locked.
        """
        value = Decimal(str(amount))
        code = (currency or self.currency).upper()
        if budget_id is not None:
            budget = self.get_budget(budget_id)
            if budget is None or not budget.active:
                return True
            verdicts = enforcement.spend_verdicts([budget], amount=value, currency=code, day=on)
            return not any(v.exceeded for v in verdicts)
        unit = self.tracker.home_unit()
        if unit is None:
            return True
        answer = enforcement.check_spend(
            amount=value,
            currency=code,
            unit=unit,
            category=_category(category) or category_default(),
            tags=tags or {},
            submitter_id=self.user.pk,
            day=on,
        )
        return not any(item["exceeded"] for item in answer["budgets"])

    def reset_period_alerts(self, *, on: date | datetime | None = None) -> int:
        """Clear the alerts the user's readable budgets fired in their current period (or
        the one containing ``on``), so their thresholds can fire again (finance only:
        ``PermissionDenied``). Returns how many alerts were cleared."""
        budgets = list(selectors.budget_list(user=self.user))
        return services.budget_alerts_reset(budgets=budgets, on=on, acting_user=self.user)


def _category(category: CostCategory | str | None) -> CostCategory | None:
    if category is None or isinstance(category, CostCategory):
        return category
    found = CostCategory.objects.filter(slug=category).first()
    if found is None:
        raise ValidationError(f"Unknown category '{category}'.", field="category")
    return found
