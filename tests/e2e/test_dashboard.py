"""In a real browser: the dashboard and a unit page show their charts and the figures."""

from decimal import Decimal

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By

from tests.orgunits.factories import OrganizationUnitFactory, UserFactory
from tests.reports.factories import CostFactory

from .waits import click_to_new_page

pytestmark = pytest.mark.e2e


def test_dashboard_and_unit_page_show_charts_and_figures(browser, sign_in, live_server):
    company = OrganizationUnitFactory(name="Acme")
    eng = OrganizationUnitFactory(name="Engineering", parent=company)
    web = OrganizationUnitFactory(name="Web team", parent=eng)
    today = timezone.localdate()
    CostFactory(organization_unit=web, amount=Decimal("1234.56"), incurred_on=today)
    CostFactory(organization_unit=eng, amount=Decimal("100.00"), incurred_on=today)
    user = UserFactory()
    eng.memberships.create(user=user)

    sign_in(user, "pass-1234")
    browser.get(f"{live_server.url}/")
    assert browser.find_element(By.ID, "spend-this-month").text == "1,334.56 USD"
    charts = browser.find_elements(By.CSS_SELECTOR, "svg[role=img]")
    assert len(charts) == 2
    assert "total 1,334.56 USD" in charts[0].get_attribute("aria-label")
    assert charts[0].size["height"] > 50  # drawn, not collapsed
    figures = browser.find_element(By.CSS_SELECTOR, "#trend-heading ~ figure table").text
    assert "1,334.56" in figures

    click_to_new_page(browser, browser.find_element(By.LINK_TEXT, "Engineering"))
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Engineering")
    assert browser.find_element(By.ID, "unit-total").text == "1,334.56 USD"
    assert browser.find_element(By.ID, "unit-own").text == "100.00 USD"
    unit_charts = browser.find_elements(By.CSS_SELECTOR, "svg[role=img]")
    assert len(unit_charts) >= 3  # trend, subunits, categories (and resources when any)
    subunits = browser.find_element(By.CSS_SELECTOR, "#children-heading ~ figure table").text
    assert "Web team 1,234.56" in subunits
