"""Budget variance: amount vs actual vs forecast per budget and period, API and scoping."""

from datetime import date
from decimal import Decimal

import pytest

from costs.models import CostStatus
from tests.budgets.factories import BudgetFactory
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory, finance_user

from .factories import CostFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    company = OrganizationUnitFactory(name="Co", code="co-v")
    eng = OrganizationUnitFactory(name="Eng", code="eng-v", parent=company)
    sales = OrganizationUnitFactory(name="Sales", code="sales-v", parent=company)
    eng_budget = BudgetFactory(name="Eng cloud", organization_unit=eng, amount=Decimal("1000"))
    BudgetFactory(name="Sales travel", organization_unit=sales, amount=Decimal("50"))
    CostFactory(organization_unit=eng, amount=Decimal("400.00"), incurred_on=date(2025, 2, 10))
    CostFactory(organization_unit=eng, amount=Decimal("1500.00"), incurred_on=date(2025, 3, 5))
    CostFactory(organization_unit=eng, amount=Decimal("99.00"), incurred_on=date(2025, 3, 6),
                status=CostStatus.PENDING)  # fmt: skip
    CostFactory(organization_unit=sales, amount=Decimal("10.00"), incurred_on=date(2025, 3, 6))
    member = UserFactory()
    eng.memberships.create(user=member)
    return {"eng": eng, "sales": sales, "eng_budget": eng_budget, "member": member}


def test_variance_per_budget_and_period(client_for, setup, django_assert_max_num_queries):
    client = client_for(finance_user())
    with django_assert_max_num_queries(8):
        r = client.get("/api/v1/reports/budget-variance/", {"on": "2025-03-31", "periods": 2})
    assert r.status_code == 200
    rows = [
        (x["budget"], x["period_start"], x["amount"], x["actual"], x["committed"],
         x["forecast"], x["variance"], x["status"])
        for x in r.json()["results"]
    ]  # fmt: skip
    # the budget counts pending costs (the default): spent = 1500 actual + 99 committed
    assert rows == [
        ("Eng cloud", "2025-02-01", "1000.00", "400.00", "0.00", "400.00", "600.00", "under"),
        ("Eng cloud", "2025-03-01", "1000.00", "1500.00", "99.00", "1599.00", "-599.00", "over"),
        ("Sales travel", "2025-02-01", "50.00", "0.00", "0.00", "0.00", "50.00", "under"),
        ("Sales travel", "2025-03-01", "50.00", "10.00", "0.00", "10.00", "40.00", "under"),
    ]


def test_member_sees_only_budgets_of_their_units_and_csv(client_for, setup):
    client = client_for(setup["member"])
    r = client.get("/api/v1/reports/budget-variance/", {"on": "2025-03-15"})
    assert [x["budget"] for x in r.json()["results"]] == ["Eng cloud"]
    r = client.get("/api/v1/reports/budget-variance/", {"organization_unit": setup["sales"].pk})
    assert (r.status_code, list(r.json())) == (400, ["organization_unit"])
    r = client.get("/api/v1/reports/budget-variance/", {"on": "2025-03-15", "format": "csv"})
    lines = r.content.decode().splitlines()
    assert lines[0].startswith("budget_id,budget,organization_unit,period,period_start")
    assert ",Eng cloud,Eng,monthly,2025-03-01,2025-03-31,USD,1000.00,1500.00," in lines[1]


@pytest.mark.parametrize(
    "params, field", [({"on": "2025-13-01"}, "on"), ({"periods": "0"}, "periods")]
)
def test_bad_parameters(client_for, setup, params, field):
    r = client_for(finance_user()).get("/api/v1/reports/budget-variance/", params)
    assert (r.status_code, list(r.json())) == (400, [field])
