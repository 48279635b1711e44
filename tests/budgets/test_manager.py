"""Seed 001's ``BudgetManager`` scenarios, through the budgets services and selectors.

The organisation is the costs tests' one: eng (owner eng_owner) ⊃ platform (member
``member``), sales (member ``sales_member``); ``fin`` is finance. Costs fall in March 2025,
a finished period, so the figures do not depend on today's date (no forecasts either).
"""

from datetime import date
from decimal import Decimal

import pytest

from budgets.manager import BudgetManager
from budgets.models import BudgetAlert
from costs.models import Cost
from costs.tracker import CostTracker
from costtrack.core.exceptions import PermissionDenied, ValidationError
from notifications.models import Notification
from tests.costs.factories import make_cost

pytestmark = pytest.mark.django_db
MARCH = date(2025, 3, 15)


def spend(org, amount, *, unit=None, user=None, status=Cost.Status.APPROVED, **fields):
    return make_cost(
        status=status,
        submitted_by=user or org.member,
        amount=amount,
        incurred_on=MARCH,
        organization_unit=unit or org.platform,
        **fields,
    )


@pytest.fixture
def finance(org):
    return BudgetManager(org.fin, organization_unit=org.eng)


def test_create_returns_a_budget_whose_id_comes_from_its_name(org, finance):
    budget = finance.create(
        "Cloud Spend", Decimal("1000.00"), "monthly", alert_thresholds=[0.5, 0.8, 1.0]
    )
    assert budget.slug == "cloud-spend"
    assert (budget.amount, budget.currency, budget.period) == (Decimal("1000.00"), "USD", "monthly")
    assert budget.organization_unit == org.eng
    assert budget.alert_thresholds == ["0.5", "0.8", "1"]
    assert budget.created_by == org.fin
    # the seed's id (name.lower().replace(" ", "_")), the slug and the pk all find it
    for key in ("cloud_spend", "cloud-spend", budget.pk, str(budget.pk)):
        assert finance.get_budget(key) == budget
    assert finance.get_budget("no_such_budget") is None
    assert [b.name for b in finance.list_budgets()] == ["Cloud Spend"]


def test_create_with_category_tags_and_default_thresholds(org, finance):
    budget = finance.create(
        "Prod compute", "250", "quarterly", category="compute", tags_filter={"env": "prod"}
    )
    assert budget.category.slug == "compute"
    assert budget.tags_filter == {"env": "prod"}
    assert budget.alert_thresholds == ["0.5", "0.8", "0.9", "1"]


def test_bad_input_is_refused_naming_the_field_and_writes_nothing(org, finance):
    with pytest.raises(ValidationError) as exc:
        finance.create("Nothing", "0", "monthly")
    assert exc.value.field == "amount"
    with pytest.raises(ValidationError) as exc:
        finance.create("Bad thresholds", "10", "monthly", alert_thresholds=[3])
    assert exc.value.field == "alert_thresholds"
    with pytest.raises(ValidationError) as exc:
        finance.create("Bad category", "10", "monthly", category="no-such-category")
    assert exc.value.field == "category"
    assert finance.list_budgets() == []


def test_utilization_is_the_ratio_of_spent_to_amount(org, finance):
    budget = finance.create("Eng", "200.00", "monthly")
    assert finance.get_utilization(budget, on=MARCH) == 0
    spend(org, "50.00")
    spend(org, "30.00", status=Cost.Status.PENDING)  # committed counts: include_pending
    assert finance.get_utilization(budget, on=MARCH) == 0.4  # a float ratio, as in the seed
    spend(org, "170.00")
    assert finance.get_utilization(budget, on=MARCH) == 1.25  # overspent: above 1.0
    assert finance.get_utilization(budget, on=date(2025, 4, 1)) == 0  # April is another period


def test_check_budgets_returns_each_new_alert_once_per_period(org, finance):
    spend(org, "85.00")
    budget = finance.create("Eng", "100.00", "monthly", alert_thresholds=[0.5, 0.8, 1.0])
    alerts = finance.check_budgets(on=MARCH)
    assert [(a.budget_id, a.kind, a.threshold) for a in alerts] == [
        (budget.pk, "actual", Decimal("0.5")),
        (budget.pk, "actual", Decimal("0.8")),
    ]
    assert alerts[1].message == "Budget 'Eng' has reached 80 %: 85.00 of 100.00 USD spent."
    assert finance.check_budgets(on=MARCH) == []  # fired already in this period
    # the owner of eng and finance are told, once per alert
    told = Notification.objects.filter(recipient=org.eng_owner, kind="budget_threshold")
    assert told.count() == 2

    spend(org, "20.00")  # the approval itself checks: 100 % fires now
    assert BudgetAlert.objects.filter(budget=budget, threshold=1).count() == 1
    assert finance.check_budgets(on=MARCH) == []


def test_reset_period_alerts_lets_the_thresholds_fire_again(org, finance):
    spend(org, "60.00")
    budget = finance.create("Eng", "100.00", "monthly", alert_thresholds=[0.5])
    assert len(finance.check_budgets(on=MARCH)) == 1
    assert finance.check_budgets(on=MARCH) == []
    assert finance.reset_period_alerts(on=date(2025, 4, 2)) == 0  # April fired nothing
    assert finance.reset_period_alerts(on=MARCH) == 1
    again = finance.check_budgets(on=MARCH)
    assert [(a.budget_id, a.threshold) for a in again] == [(budget.pk, Decimal("0.5"))]


def test_can_spend_within_over_and_unknown_budget(org, finance):
    budget = finance.create("Eng", "100.00", "monthly")
    spend(org, "70.00")
    assert finance.can_spend("30.00", budget.pk, on=MARCH) is True  # exactly the limit
    assert finance.can_spend("30.01", budget.slug, on=MARCH) is False
    assert finance.can_spend("1000000", "no_such_budget") is True  # the seed's permissive default
    # without an id: every budget a cost of the tracker's unit would count against
    assert finance.can_spend("30.00", on=MARCH) is True
    assert finance.can_spend("31.00", on=MARCH) is False


def test_can_spend_converts_another_currency(org, finance, eur_rates):
    budget = finance.create("Eng", "100.00", "monthly")
    # 80.00 EUR at 1.20 USD is 96.00 USD
    assert finance.can_spend("80.00", budget.pk, currency="EUR", on=MARCH) is True
    assert finance.can_spend("84.00", budget.pk, currency="EUR", on=MARCH) is False


def test_the_manager_uses_its_cost_tracker_unit(org):
    tracker = CostTracker(org.fin, organization_unit=org.sales)
    budget = BudgetManager(org.fin, tracker=tracker).create("Sales", "10.00", "monthly")
    assert budget.organization_unit == org.sales


# --- the same permissions as the API -------------------------------------------------------


def test_only_finance_creates_and_resets(org, finance):
    finance.create("Eng", "100.00", "monthly")
    member = BudgetManager(org.member)
    with pytest.raises(PermissionDenied):
        member.create("Mine", "10.00", "monthly")
    with pytest.raises(PermissionDenied):
        member.reset_period_alerts()
    with pytest.raises(PermissionDenied):
        BudgetManager(org.aud, organization_unit=org.eng).create("Audit", "1", "monthly")


def test_a_member_reads_only_the_budgets_of_their_units(org, finance):
    spend(org, "9.00", unit=org.sales, user=org.sales_member)  # before the budgets exist
    eng = finance.create("Eng", "100.00", "monthly")
    sales = BudgetManager(org.fin, organization_unit=org.sales).create("Sales", "5.00", "monthly")
    member = BudgetManager(org.member)  # platform, under eng
    assert [b.name for b in member.list_budgets()] == ["Eng"]
    assert member.get_budget(eng.pk) == eng
    # another unit's budget is unknown to the member, as it is 404 in the API
    assert member.get_budget(sales.pk) is None
    assert member.get_budget("sales") is None
    assert member.can_spend("1000.00", sales.pk, on=MARCH) is True
    assert member.check_budgets(on=MARCH) == []  # sales' 100 % is not the member's to check
    assert not BudgetAlert.objects.filter(budget=sales).exists()
    seller = BudgetManager(org.sales_member)
    assert [b.name for b in seller.list_budgets()] == ["Sales"]
    assert [a.threshold for a in seller.check_budgets(on=MARCH)] == [
        Decimal("0.5"),
        Decimal("0.8"),
        Decimal("0.9"),
        Decimal("1"),
    ]
    assert seller.get_utilization(sales, on=MARCH) == 1.8


def test_utilization_that_cannot_be_converted_is_refused(org):
    manager = BudgetManager(org.fin, organization_unit=org.eng, currency="EUR")
    budget = manager.create("Eng in euros", "100.00", "monthly")
    spend(org, "10.00")  # USD, and no EUR rate has been loaded
    with pytest.raises(ValidationError) as exc:
        manager.get_utilization(budget, on=MARCH)
    assert exc.value.code == "no_exchange_rate"
