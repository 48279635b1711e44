"""Scope matching and spend: which budgets a cost falls under, and how much a period used."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group

from budgets import selectors
from budgets.models import Budget
from costs.models import Cost
from tests.budgets.factories import BudgetFactory
from tests.costs.factories import CostCategoryFactory, make_cost

pytestmark = pytest.mark.django_db
UTC = ZoneInfo("UTC")
MARCH = date(2025, 3, 15)


def matches(cost):
    return {
        b.name
        for b in selectors.matching_budgets(
            unit_id=cost.organization_unit_id,
            category_id=cost.category_id,
            tags=cost.tags,
            submitter_id=cost.submitted_by_id,
            day=cost.incurred_on,
        )
    }


def test_unit_budget_covers_its_subtree_not_siblings(org):
    BudgetFactory(name="Eng", organization_unit=org.eng)
    BudgetFactory(name="Platform", organization_unit=org.platform)
    BudgetFactory(name="Sales", organization_unit=org.sales)
    BudgetFactory(name="Acme", organization_unit=org.root)
    cost = make_cost(submitted_by=org.member, organization_unit=org.platform, status="draft")
    assert matches(cost) == {"Eng", "Platform", "Acme"}
    eng_cost = make_cost(submitted_by=org.eng_approver, organization_unit=org.eng, status="draft")
    assert matches(eng_cost) == {"Eng", "Acme"}


def test_category_budget_covers_subcategories_only(org):
    cloud = CostCategoryFactory(slug="b-cloud", name="Cloud")
    compute = CostCategoryFactory(slug="b-compute", name="Compute", parent=cloud)
    food = CostCategoryFactory(slug="b-food", name="Food")
    BudgetFactory(name="Cloud", organization_unit=org.root, category=cloud)
    BudgetFactory(name="Compute", organization_unit=org.root, category=compute)
    BudgetFactory(name="Food", organization_unit=org.root, category=food)
    cost = make_cost(
        submitted_by=org.member, organization_unit=org.platform, category=compute, status="draft"
    )
    assert matches(cost) == {"Cloud", "Compute"}
    cloud_cost = make_cost(
        submitted_by=org.member, organization_unit=org.platform, category=cloud, status="draft"
    )
    assert matches(cloud_cost) == {"Cloud"}


def test_tag_filter_needs_every_pair(org):
    BudgetFactory(name="Prod", organization_unit=org.root, tags_filter={"env": "prod"})
    BudgetFactory(
        name="Prod web", organization_unit=org.root, tags_filter={"env": "prod", "tier": "web"}
    )
    BudgetFactory(name="Dev", organization_unit=org.root, tags_filter={"env": "dev"})
    cost = make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        tags={"env": "prod", "team": "x"},
        status="draft",
    )
    assert matches(cost) == {"Prod"}


def test_team_budget_covers_costs_of_its_members(org):
    team = Group.objects.create(name="farmers")
    org.member.groups.add(team)
    BudgetFactory(name="Farmers", organization_unit=org.root, team=team)
    mine = make_cost(submitted_by=org.member, organization_unit=org.platform, status="draft")
    other = make_cost(submitted_by=org.sales_member, organization_unit=org.sales, status="draft")
    assert matches(mine) == {"Farmers"}
    assert matches(other) == set()


def test_inactive_budget_and_custom_range(org):
    BudgetFactory(name="Off", organization_unit=org.root, active=False)
    BudgetFactory(
        name="Launch",
        organization_unit=org.root,
        period="custom",
        start_date=date(2025, 3, 1),
        end_date=date(2025, 3, 20),
    )
    inside = make_cost(
        submitted_by=org.member, organization_unit=org.platform, incurred_on=MARCH, status="draft"
    )
    outside = make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        incurred_on=date(2025, 3, 21),
        status="draft",
    )
    assert matches(inside) == {"Launch"}
    assert matches(outside) == set()


def test_utilisation_counts_approved_and_pending_of_the_period_in_scope(org):
    budget = BudgetFactory(organization_unit=org.eng, amount=Decimal("1000.00"))
    make_cost(
        submitted_by=org.member, organization_unit=org.platform, amount="300.00", status="approved"
    )
    make_cost(submitted_by=org.member, organization_unit=org.platform, amount="150.50")
    make_cost(
        submitted_by=org.member, organization_unit=org.platform, amount="40.00", status="rejected"
    )
    make_cost(
        submitted_by=org.member, organization_unit=org.platform, amount="40.00", status="draft"
    )
    make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        amount="70.00",
        incurred_on=date(2025, 4, 1),
        status="approved",
    )
    make_cost(
        submitted_by=org.sales_member,
        organization_unit=org.sales,
        amount="99.00",
        status="approved",
    )
    make_cost(
        submitted_by=org.member, organization_unit=org.platform, amount="-20.00", status="approved"
    )
    now = datetime(2025, 3, 15, 12, tzinfo=UTC)
    util = selectors.budget_utilization(budget, on=MARCH, now=now)
    assert util.actual == Decimal("280.00")
    assert util.committed == Decimal("150.50")
    assert util.spent == Decimal("430.50")
    assert util.remaining == Decimal("569.50")
    assert util.utilization_pct == Decimal("43.05")
    # 15 of 31 days elapsed: 430.50 * 31 / 15 = 889.70
    assert util.forecast == Decimal("889.70")
    assert util.period.as_labels() == ("2025-03-01", "2025-03-31")

    budget.include_pending = False
    util = selectors.budget_utilization(budget, on=MARCH, now=now)
    assert util.spent == Decimal("280.00")
    april = selectors.budget_utilization(budget, on=date(2025, 4, 2), now=now)
    assert april.actual == Decimal("70.00")


def test_spend_is_converted_to_the_budget_currency_at_each_cost_date(org, eur_rates):
    eur = BudgetFactory(organization_unit=org.eng, currency="EUR", amount=Decimal("1000"))
    usd = BudgetFactory(organization_unit=org.eng, currency="USD", amount=Decimal("1000"))
    # 120 USD on 2025-03-15 at 1.20 USD/EUR = 100 EUR; 50 EUR counts as itself.
    make_cost(
        submitted_by=org.member, organization_unit=org.platform, amount="120.00", status="approved"
    )
    make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        amount="50.00",
        currency="EUR",
        status="approved",
    )
    # 11 USD on 2025-02-10 at 1.10 = 10 EUR (February: the older rate applies).
    feb = date(2025, 2, 10)
    make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        amount="11.00",
        incurred_on=feb,
        status="approved",
    )
    utils = selectors.budget_utilisations([eur, usd], on=MARCH)
    assert utils[eur.pk].actual == Decimal("150.00")
    assert utils[usd.pk].actual == Decimal("180.00")  # 120 + 50 EUR * 1.20
    assert selectors.budget_utilization(eur, on=feb).actual == Decimal("10.00")


def test_hourly_budget_counts_costs_submitted_in_the_hour(org):
    budget = BudgetFactory(organization_unit=org.eng, period="hourly", amount=Decimal("10"))
    cost = make_cost(submitted_by=org.member, organization_unit=org.platform, amount="3.00")
    util = selectors.budget_utilization(budget, on=cost.submitted_at)
    assert util.committed == Decimal("3.00")
    assert util.period.contains(cost.submitted_at)
    earlier = selectors.budget_utilization(budget, on=cost.submitted_at.replace(year=2024))
    assert earlier.committed == 0


def test_many_budgets_cost_one_spend_query(org, django_assert_num_queries):
    budgets = [BudgetFactory(organization_unit=org.eng) for _ in range(6)]
    make_cost(
        submitted_by=org.member, organization_unit=org.platform, amount="5.00", status="approved"
    )
    with django_assert_num_queries(1):
        utils = selectors.budget_utilisations(budgets, on=MARCH)
    assert {u.actual for u in utils.values()} == {Decimal("5.00")}


def test_visibility_of_budgets(org):
    eng = BudgetFactory(name="Eng", organization_unit=org.eng)
    platform = BudgetFactory(name="Platform", organization_unit=org.platform)
    sales = BudgetFactory(name="Sales", organization_unit=org.sales)
    BudgetFactory(name="Acme", organization_unit=org.root)
    names = lambda user: {b.name for b in selectors.budget_list(user=user)}  # noqa: E731
    assert names(org.fin) == names(org.aud) == {"Eng", "Platform", "Sales", "Acme"}
    assert names(org.member) == {"Eng", "Platform", "Acme"}
    assert names(org.sales_owner) == {"Sales", "Acme"}
    assert names(org.delegate) == set()
    assert {b.pk for b in selectors.my_budgets(user=org.eng_owner)} == {
        eng.pk,
        platform.pk,
        Budget.objects.get(name="Acme").pk,
    }
    assert sales.pk not in {b.pk for b in selectors.my_budgets(user=org.fin)}
    assert Cost.objects.count() == 0


def test_spend_sql_agrees_with_the_costs_it_counts(org, eur_rates):
    """The hand-written aggregate equals a Python sum over ``budget_costs`` for every kind of
    scope, in a foreign currency (converted per cost at its own day's rate)."""
    from budgets.spend import _summary_rows, spend_by_budget
    from costs.models import ExchangeRate

    team = Group.objects.create(name="crew")
    org.member.groups.add(team)
    cloud = CostCategoryFactory(slug="x-cloud", name="Cloud")
    budgets = [
        BudgetFactory(organization_unit=org.root, currency="EUR"),
        BudgetFactory(organization_unit=org.eng, currency="EUR", category=cloud),
        BudgetFactory(organization_unit=org.root, currency="GBP", tags_filter={"env": "prod"}),
        BudgetFactory(organization_unit=org.root, currency="EUR", team=team),
        BudgetFactory(organization_unit=org.root, currency="USD", period="quarterly"),
        # one tag: the summary's tag rows, per month (reporting currency) and per day
        BudgetFactory(organization_unit=org.root, currency="USD", tags_filter={"env": "prod"}),
        BudgetFactory(organization_unit=org.eng, currency="EUR", tags_filter={"tier": "web"}),
        # two tags, or a tag with a category: raw costs
        BudgetFactory(
            organization_unit=org.root, currency="USD", tags_filter={"env": "prod", "tier": "web"}
        ),
        BudgetFactory(
            organization_unit=org.root, currency="EUR", category=cloud, tags_filter={"env": "prod"}
        ),
    ]
    days = [date(2025, 2, 27), date(2025, 3, 1), date(2025, 3, 15), date(2025, 3, 31)]
    for i, day in enumerate(days * 3):
        make_cost(
            submitted_by=org.member if i % 2 else org.sales_member,
            organization_unit=org.platform if i % 2 else org.sales,
            amount=f"{7 + i * 3}.{i:02d}",
            currency=("USD", "EUR", "GBP")[i % 3],
            incurred_on=day,
            category=cloud if i % 4 == 1 else None,
            tags=({"env": "prod"} if i % 3 else {}) | ({"tier": "web"} if i % 4 == 3 else {}),
            status="approved" if i % 5 else "pending",
        )
    now = datetime(2025, 3, 20, tzinfo=UTC)
    pairs = [(b, selectors.budget_period(b, MARCH)) for b in budgets]
    found = spend_by_budget(pairs)

    def rate(code, day):
        return ExchangeRate.objects.filter(currency=code, date__lte=day).latest("date").rate

    for budget, period in pairs:
        expected = {"approved": Decimal(0), "pending": Decimal(0)}
        for cost in selectors.budget_costs(budget, period):
            if cost.currency == budget.currency:
                value = cost.amount
            elif budget.currency == "USD":
                value = cost.amount_reporting
            else:
                value = cost.amount_reporting / rate(budget.currency, cost.incurred_on)
            expected[cost.status] += value
        got = found[budget.pk]
        assert got.actual == expected["approved"].quantize(Decimal("0.01")), budget
        assert got.committed == expected["pending"].quantize(Decimal("0.01")), budget
    assert all(found[b.pk].actual for b in budgets)
    sources = [_summary_rows(b, p) for b, p in pairs]
    assert sources == ["tree", "tree", "tag", None, "tree", "tag", "tag", None, None]
    assert selectors.budget_utilization(budgets[0], on=MARCH, now=now).actual == (
        found[budgets[0].pk].actual
    )
