"""Budget services: create/update with revisions, enforcement on submit, threshold alerts."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from budgets import services
from budgets.models import Budget, BudgetAlert, BudgetRevision
from costs import services as cost_services
from costs.models import Cost, CostEvent
from costtrack.core.exceptions import PermissionDenied, ValidationError
from notifications.models import Notification
from tests.budgets.factories import BudgetFactory
from tests.costs.factories import make_cost

pytestmark = pytest.mark.django_db
UTC = ZoneInfo("UTC")
MARCH = date(2025, 3, 15)


def submit(org, amount, *, currency="USD", user=None, unit=None, **kw):
    return cost_services.cost_create(
        submitted_by=user or org.member,
        amount=Decimal(amount),
        currency=currency,
        incurred_on=kw.pop("incurred_on", MARCH),
        organization_unit=unit or org.platform,
        **kw,
    )


# --- create / update -----------------------------------------------------------------------


def test_create_derives_unique_slug_and_default_thresholds(org):
    a = services.budget_create(
        name="Cloud Spend",
        amount=Decimal("10"),
        currency="usd",
        organization_unit=org.eng,
        acting_user=org.fin,
    )
    b = services.budget_create(
        name="Cloud spend",
        amount=Decimal("10"),
        currency="USD",
        organization_unit=org.eng,
        acting_user=org.fin,
    )
    assert (a.slug, b.slug) == ("cloud-spend", "cloud-spend-2")
    assert a.currency == "USD"
    assert a.alert_thresholds == ["0.5", "0.8", "0.9", "1"]
    assert a.created_by == org.fin


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": Decimal("0")}, "amount"),
        ({"amount": Decimal("-5")}, "amount"),
        ({"amount": Decimal("1.001")}, "amount"),
        ({"currency": "XXY"}, "currency"),
        ({"alert_thresholds": ["0"]}, "alert_thresholds"),
        ({"alert_thresholds": [2.5]}, "alert_thresholds"),
        ({"alert_thresholds": ["abc"]}, "alert_thresholds"),
        ({"period": "custom"}, "start_date"),
        ({"period": "custom", "start_date": MARCH}, "end_date"),
        ({"period": "custom", "start_date": MARCH, "end_date": date(2025, 3, 1)}, "end_date"),
        ({"tags_filter": {"env": 3}}, "tags_filter"),
    ],
)
def test_create_refuses_bad_input_naming_the_field(org, fields, field):
    kwargs = {"name": "B", "amount": Decimal("10"), "currency": "USD", **fields}
    with pytest.raises(ValidationError) as exc:
        services.budget_create(organization_unit=org.eng, acting_user=org.fin, **kwargs)
    assert exc.value.field == field
    assert Budget.objects.count() == 0


def test_only_finance_manages_budgets(org):
    with pytest.raises(PermissionDenied):
        services.budget_create(
            name="B",
            amount=Decimal("1"),
            currency="USD",
            organization_unit=org.eng,
            acting_user=org.eng_owner,
        )
    budget = BudgetFactory(organization_unit=org.eng, acting_user=org.fin)
    with pytest.raises(PermissionDenied):
        services.budget_update(budget=budget, acting_user=org.aud, name="x")
    with pytest.raises(PermissionDenied):
        services.budget_delete(budget=budget, acting_user=org.eng_owner)


def test_amount_change_needs_reason_and_writes_revision(org):
    budget = BudgetFactory(organization_unit=org.eng, amount=Decimal("100.00"))
    with pytest.raises(ValidationError) as exc:
        services.budget_update(budget=budget, acting_user=org.fin, amount=Decimal("150"))
    assert exc.value.field == "reason"
    services.budget_update(
        budget=budget, acting_user=org.fin, amount=Decimal("150.00"), reason="Q2 launch"
    )
    services.budget_update(budget=budget, acting_user=org.fin, name="Renamed")
    rev = BudgetRevision.objects.get()
    assert (rev.old_amount, rev.new_amount, rev.reason, rev.changed_by) == (
        Decimal("100.00"),
        Decimal("150.00"),
        "Q2 launch",
        org.fin,
    )
    budget.refresh_from_db()
    assert (budget.amount, budget.name) == (Decimal("150.00"), "Renamed")


# --- enforcement ---------------------------------------------------------------------------


FIGURES = (
    "Budget 'Eng hard' (2025-03-01 to 2025-03-31): limit 100.00 USD, spent 60.00 USD, "
    "remaining 40.00 USD, 60.00 % used; this cost adds 50.00 USD"
)


def test_block_budget_refuses_with_details_and_writes_nothing(org):
    budget = BudgetFactory(
        name="Eng hard", organization_unit=org.eng, amount=Decimal("100.00"), action="block"
    )
    submit(org, "60.00")
    before = Cost.objects.count()
    with pytest.raises(PermissionDenied) as exc:
        submit(org, "50.00")
    assert exc.value.code == "budget_exceeded"
    extra = exc.value.extra
    assert extra["budgets"] == [
        {
            "budget_id": budget.pk,
            "name": "Eng hard",
            "action": "block",
            "budget_limit": "100.00",
            "budget_spent": "60.00",
            "budget_remaining": "40.00",
            "budget_utilization_pct": "60.00",
            "requested": "50.00",
            "currency": "USD",
            "period_start": "2025-03-01",
            "period_end": "2025-03-31",
            "message": FIGURES + ".",
        }
    ]
    # The message people read names every figure of SPEC 2.3.
    assert exc.value.message == "This cost would exceed the budget " + FIGURES[7:] + "."
    assert extra["budget_limit"] == "100.00"
    assert extra["budget_remaining"] == "40.00"
    assert extra["budget_utilization_pct"] == "60.00"
    assert Cost.objects.count() == before
    # Exactly the remainder still fits.
    assert submit(org, "40.00").cost.status == Cost.Status.PENDING


def test_block_on_submit_of_a_draft_leaves_it_draft(org):
    BudgetFactory(organization_unit=org.eng, amount=Decimal("10.00"), action="block")
    draft = submit(org, "11.00", draft=True).cost
    with pytest.raises(PermissionDenied):
        cost_services.cost_submit(cost=draft, acting_user=org.member)
    assert Cost.objects.get(pk=draft.pk).status == Cost.Status.DRAFT


def test_warn_budget_accepts_with_warnings_and_ignore_says_nothing(org):
    BudgetFactory(name="Soft", organization_unit=org.eng, amount=Decimal("10.00"), action="warn")
    BudgetFactory(name="Mute", organization_unit=org.eng, amount=Decimal("1.00"), action="ignore")
    result = submit(org, "25.00")
    assert result.cost.status == Cost.Status.PENDING
    assert [w["name"] for w in result.warnings] == ["Soft"]
    assert result.warnings[0]["budget_remaining"] == "10.00"
    assert submit(org, "1.00").warnings[0]["budget_spent"] == "25.00"


def test_finance_overrides_a_block_with_a_reason(org):
    BudgetFactory(name="Hard", organization_unit=org.eng, amount=Decimal("10.00"), action="block")
    result = cost_services.cost_create(
        submitted_by=org.fin,
        amount=Decimal("50.00"),
        currency="USD",
        incurred_on=MARCH,
        organization_unit=org.platform,
        override_reason="Emergency capacity",
    )
    assert result.cost.status == Cost.Status.PENDING
    assert result.warnings[0]["overridden"] is True
    assert result.warnings[0]["name"] == "Hard"
    event = CostEvent.objects.get(cost=result.cost, action=CostEvent.Action.OVERRIDE)
    assert event.comment == "Emergency capacity"
    with pytest.raises(PermissionDenied):
        cost_services.cost_create(
            submitted_by=org.fin,
            amount=Decimal("50.00"),
            currency="USD",
            incurred_on=MARCH,
            organization_unit=org.platform,
        )


def test_credits_and_costs_outside_scope_are_never_blocked(org):
    BudgetFactory(organization_unit=org.eng, amount=Decimal("10.00"), action="block")
    submit(org, "10.00")
    assert submit(org, "-5.00").cost.kind == Cost.Kind.CREDIT
    assert submit(org, "500.00", user=org.sales_member, unit=org.sales).warnings == []
    # April is a new period with its own 10.00.
    assert submit(org, "10.00", incurred_on=date(2025, 4, 1)).cost.status == Cost.Status.PENDING


def test_block_in_budget_currency_with_foreign_costs(org, eur_rates):
    # 100 EUR budget; EUR 1.20 USD from March 2025. 60 USD = 50 EUR.
    BudgetFactory(organization_unit=org.eng, currency="EUR", amount=Decimal("100"), action="block")
    submit(org, "60.00")
    submit(org, "30.00", currency="EUR")
    with pytest.raises(PermissionDenied) as exc:
        submit(org, "24.01")  # 20.0083 EUR > 20 left
    assert exc.value.extra["budgets"][0]["budget_remaining"] == "20.00"
    assert exc.value.extra["budgets"][0]["requested"] == "20.01"
    assert exc.value.extra["budgets"][0]["currency"] == "EUR"
    assert submit(org, "24.00").cost.status == Cost.Status.PENDING


def test_budget_not_counting_pending_only_blocks_on_approved(org):
    BudgetFactory(
        organization_unit=org.eng, amount=Decimal("100"), action="block", include_pending=False
    )
    submit(org, "90.00")
    submit(org, "90.00")  # pending does not count
    make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        amount="95.00",
        incurred_on=MARCH,
        status="approved",
    )
    with pytest.raises(PermissionDenied):
        submit(org, "6.00")


# --- alerts --------------------------------------------------------------------------------


def approve(org, amount, day=MARCH):
    return make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        amount=amount,
        incurred_on=day,
        status="approved",
        decider=org.fin,
    )


def actual_alerts(budget):
    return list(
        BudgetAlert.objects.filter(budget=budget, kind="actual")
        .order_by("period_start", "threshold")
        .values_list("period_start", "threshold")
    )


def test_each_threshold_fires_once_per_period(org):
    budget = BudgetFactory(
        organization_unit=org.eng,
        amount=Decimal("100.00"),
        alert_thresholds=["0.5", "0.8", "1.0"],
    )
    approve(org, "50.00")  # the approval checks the budget: 50 %
    approve(org, "10.00")  # 60 %: nothing new
    approve(org, "20.00")  # 80 %
    approve(org, "25.00")  # 105 %
    march = datetime(2025, 3, 1, tzinfo=UTC)
    assert actual_alerts(budget) == [
        (march, Decimal("0.5")),
        (march, Decimal("0.8")),
        (march, Decimal("1.0")),
    ]
    assert services.budget_check_alerts(budgets=[budget], on=MARCH) == []
    assert BudgetAlert.objects.filter(budget=budget, kind="actual").count() == 3

    approve(org, "55.00", day=date(2025, 4, 2))  # a new period starts clean
    april = datetime(2025, 4, 1, tzinfo=UTC)
    assert actual_alerts(budget)[-1] == (april, Decimal("0.5"))
    assert BudgetAlert.objects.filter(budget=budget, kind="actual").count() == 4

    first = BudgetAlert.objects.get(budget=budget, threshold=Decimal("0.5"), period_start=march)
    assert first.spend == Decimal("50.00")
    assert first.message == f"Budget '{budget.name}' has reached 50 %: 50.00 of 100.00 USD spent."
    # The unit owner and finance are told, once per alert.
    owner_notes = Notification.objects.filter(recipient=org.eng_owner, kind="budget_threshold")
    assert owner_notes.count() == 4
    assert Notification.objects.filter(recipient=org.fin, kind="budget_threshold").count() == 4


def test_forecast_alerts_by_run_rate(org):
    budget = BudgetFactory(
        organization_unit=org.eng,
        amount=Decimal("300.00"),
        alert_thresholds=["0.5", "1"],
    )
    approve(org, "100.00", day=date(2025, 3, 1))
    # On 10 March, 100 spent in 10 of 31 days forecasts 310: both forecast thresholds.
    now = datetime(2025, 3, 10, 12, tzinfo=UTC)
    written = services.budget_check_alerts(budgets=[budget], on=now, now=now)
    assert {(a.kind, a.threshold) for a in written} == {
        ("forecast", Decimal("0.5")),
        ("forecast", Decimal("1")),
    }
    assert written[0].spend == Decimal("310.00")
    assert services.budget_check_alerts(budgets=[budget], on=now, now=now) == []
    # Too early in a period a run-rate says nothing.
    early = datetime(2025, 3, 2, tzinfo=UTC)
    assert services.budget_check_alerts(budgets=[budget], on=early, now=early) == []
    assert Notification.objects.filter(recipient=org.eng_owner, kind="budget_forecast").count() == 2


def test_beat_task_checks_all_active_budgets(org):
    from budgets.tasks import check_all_budgets

    today = date.today()
    budget = BudgetFactory(
        organization_unit=org.eng,
        amount=Decimal("10.00"),
        alert_thresholds=["1"],
        period="annual",
    )
    BudgetFactory(organization_unit=org.eng, amount=Decimal("1.00"), active=False)
    make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        amount="12.00",
        incurred_on=today,
        status="approved",
    )
    BudgetAlert.objects.all().delete()
    assert check_all_budgets.delay().get() >= 1
    assert BudgetAlert.objects.filter(budget=budget, kind="actual").count() == 1
    assert check_all_budgets.delay().get() == 0


def test_demo_step_is_idempotent(org):
    from budgets.demo import seed_budgets

    make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        amount="250.00",
        incurred_on=date.today(),
        status="approved",
    )
    # The company, Engineering, Sales and the compute category (a default category).
    assert seed_budgets(context={})["budgets_created"] == 4
    eng = Budget.objects.get(slug="engineering-monthly")
    assert eng.amount == Decimal("400")  # 1.6 x the 250 spent, rounded up to hundreds
    assert eng.revisions.get().old_amount == Decimal("1")
    assert seed_budgets(context={})["budgets_created"] == 0
    assert Budget.objects.count() == 4


def test_budget_in_a_currency_without_rates(org, eur_rates):
    # No CHF rate was ever loaded: a warn budget in CHF is skipped, a block budget refuses.
    BudgetFactory(name="Swiss soft", organization_unit=org.eng, currency="CHF", action="warn")
    assert submit(org, "5.00").warnings == []
    BudgetFactory(name="Swiss hard", organization_unit=org.eng, currency="CHF", action="block")
    with pytest.raises(ValidationError) as exc:
        submit(org, "5.00")
    assert exc.value.field == "currency" and "Swiss hard" in exc.value.message
