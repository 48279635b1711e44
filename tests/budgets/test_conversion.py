"""A budget in a currency without any exchange rate: costs in other currencies cannot be
converted into it, and every reader says the spend is unknown instead of a low figure."""

import logging
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from budgets import selectors, services
from budgets.models import BudgetAlert
from costs.models import ExchangeRate
from notifications.models import Notification
from tests.budgets.factories import BudgetFactory
from tests.costs.factories import make_cost

pytestmark = pytest.mark.django_db
MARCH = date(2025, 3, 15)
GAP = {
    "code": "no_exchange_rate",
    "currency": "CHF",
    "first_day": "2025-03-10",
    "message": "No exchange rate for CHF has been loaded: costs in other currencies from "
    "2025-03-10 cannot be converted, so the spend is unknown.",
}


@pytest.fixture
def swiss(org, eur_rates):
    """A CHF budget (no CHF rate loaded) over 80 USD approved and 20 EUR pending."""
    budget = BudgetFactory(
        name="Swiss",
        organization_unit=org.eng,
        currency="CHF",
        amount=Decimal("100.00"),
        alert_thresholds=["0.5"],
    )
    for amount, currency, day, status in (
        ("80.00", "USD", date(2025, 3, 10), "approved"),
        ("20.00", "EUR", date(2025, 3, 12), "pending"),
    ):
        make_cost(
            submitted_by=org.member,
            organization_unit=org.platform,
            amount=amount,
            currency=currency,
            incurred_on=day,
            status=status,
        )
    return budget


def test_utilisation_names_the_currency_and_first_day(swiss):
    util = selectors.budget_utilization(swiss, on=MARCH)
    assert util.conversion_gap == selectors.ConversionGap("CHF", date(2025, 3, 10))
    body = util.as_dict()
    assert body["conversion_error"] == GAP
    for name in ("actual", "committed", "spent", "remaining", "utilization_pct", "forecast"):
        assert body[name] is None, name
    assert body["amount"] == "100.00"
    # February has no costs: nothing is unknown there.
    february = selectors.budget_utilization(swiss, on=date(2025, 2, 10)).as_dict()
    assert february["conversion_error"] is None and february["spent"] == "0.00"


def test_a_budget_whose_costs_all_convert_has_no_error(org, eur_rates):
    budget = BudgetFactory(organization_unit=org.eng, currency="EUR", amount=Decimal("100"))
    make_cost(submitted_by=org.member, organization_unit=org.platform, amount="12.00")
    body = selectors.budget_utilization(budget, on=MARCH).as_dict()
    assert body["conversion_error"] is None and body["actual"] == "0.00"
    assert body["committed"] == "10.00"  # 12 USD at 1.20


def test_loading_a_rate_makes_the_spend_known(swiss):
    ExchangeRate.objects.create(currency="CHF", date=date(2025, 1, 1), rate=Decimal("1.25"))
    body = selectors.budget_utilization(swiss, on=MARCH).as_dict()
    assert body["conversion_error"] is None
    assert body["actual"] == "64.00"  # 80 USD / 1.25


def test_api_utilisation_and_detail_say_the_spend_is_unknown(org, client_for, swiss):
    client = client_for(org.eng_owner)
    resp = client.get(f"/api/v1/budgets/{swiss.pk}/utilization/", {"on": "2025-03-20"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["conversion_error"] == GAP
    assert body["spent"] is None and body["utilization_pct"] is None


def test_check_refuses_to_judge_a_block_budget_it_cannot_convert(org, client_for, swiss):
    BudgetFactory(
        name="Swiss hard",
        organization_unit=org.eng,
        currency="CHF",
        amount=Decimal("1000.00"),
        action="block",
    )
    resp = client_for(org.member).post(
        "/api/v1/budgets/check/",
        {
            "amount": "1.00",
            "currency": "CHF",
            "organization_unit": org.platform.pk,
            "incurred_on": "2025-03-20",
        },
        format="json",
    )
    assert resp.status_code == 400
    assert "Cannot check budget 'Swiss hard'" in resp.json()["currency"][0]
    assert "No exchange rate for CHF" in resp.json()["currency"][0]


def test_alerts_are_not_judged_on_part_of_the_spend(org, swiss, caplog):
    # 80 USD would be 50 % of 100 CHF at almost any rate; without one nothing is claimed.
    now = datetime(2025, 3, 20, tzinfo=ZoneInfo("UTC"))
    with caplog.at_level(logging.WARNING, logger="budgets.services"):
        assert services.budget_check_alerts(budgets=[swiss], on=MARCH, now=now) == []
    assert not BudgetAlert.objects.filter(budget=swiss).exists()
    assert not Notification.objects.filter(kind="budget_threshold").exists()
    assert f"Budget {swiss.pk} not checked: No exchange rate for CHF" in caplog.text


def test_page_shows_the_error_instead_of_a_bar(org, client, swiss):
    client.force_login(org.member)
    html = client.get("/budgets/", {"on": "2025-03-15"}).content.decode()
    start = html.index(f'id="budget-{swiss.pk}"')
    block = html[start : html.index("</li>", start)]
    assert "Spend unknown." in block and GAP["message"] in block
    assert 'role="meter"' not in block and "budget-figures" not in block


def test_admin_column_says_unknown(org, client, swiss):
    today = timezone.localdate()
    make_cost(submitted_by=org.member, organization_unit=org.platform, incurred_on=today)
    org.fin.is_staff = True
    org.fin.save()
    client.force_login(org.fin)
    html = client.get("/admin/budgets/budget/").content.decode()
    assert (
        f"unknown: No exchange rate for CHF has been loaded: costs in other currencies from "
        f"{today.isoformat()} cannot be converted" in html
    )


def test_budget_variance_says_the_spend_is_unknown(org, client_for, swiss):
    resp = client_for(org.eng_owner).get("/api/v1/reports/budget-variance/", {"on": "2025-03-20"})
    assert resp.status_code == 200
    (row,) = [r for r in resp.json()["results"] if r["budget"] == "Swiss"]
    assert row["status"] == "unknown"
    assert row["conversion_error"] == GAP["message"]
    assert row["amount"] == "100.00"
    assert all(row[k] is None for k in ("actual", "spent", "forecast", "variance"))


def test_budget_variance_command_prints_unknown(org, swiss):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("reports", "budget-variance", "--on", "2025-03-20", stdout=out)
    (line,) = [x for x in out.getvalue().splitlines() if x.startswith("Swiss")]
    assert "unknown (unknown)" in line
    assert "64.00" not in line
