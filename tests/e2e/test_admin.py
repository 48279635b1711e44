"""In a real browser: finance works in the Django admin with the permissions its group
brings (no per-user grants): every changelist opens, and a cost is approved there."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from costs.models import Cost, CostEvent
from orgunits import services as org_services
from tests.costs.factories import make_cost
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory, finance_user

pytestmark = pytest.mark.e2e


def test_finance_opens_every_changelist_and_approves_a_cost(sign_in, live_server):
    finance = finance_user(username="fiona", is_staff=True)
    submitter = UserFactory(username="sam")
    unit = OrganizationUnitFactory(name="Data team", code="data")
    org_services.membership_set(user=submitter, unit=unit, role="member")
    cost = make_cost(
        submitted_by=submitter, organization_unit=unit, amount="75.40", description="Licences"
    )

    browser = sign_in(finance, "pass-1234")
    browser.get(f"{live_server.url}/admin/")
    links = {
        a.get_attribute("href")
        for a in browser.find_elements(By.CSS_SELECTOR, "#content-main th[scope=row] a")
    }
    # every costtrack app and the users and groups, as the README promises finance
    apps = {href.split("/admin/")[1].split("/")[0] for href in links}
    assert {"orgunits", "costs", "budgets", "allocation", "notifications", "auth"} <= apps
    assert len(links) >= 20
    for href in sorted(links):
        browser.get(href)
        assert browser.find_elements(By.ID, "changelist"), f"{href}: {browser.title}"
        assert "Server Error" not in browser.title and "Forbidden" not in browser.page_source[:500]

    browser.get(f"{live_server.url}/admin/costs/cost/?status__exact=pending")
    row = browser.find_element(By.XPATH, f"//input[@name='_selected_action'][@value='{cost.pk}']")
    row.click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("approve_selected")
    browser.find_element(By.NAME, "comment").send_keys("Checked against the invoice")
    browser.find_element(By.NAME, "index").click()
    assert "1 cost(s) approved." in browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    assert Cost.objects.get(pk=cost.pk).status == "approved"
    event = CostEvent.objects.get(cost=cost, action="approve")
    assert (event.actor_id, event.comment) == (finance.pk, "Checked against the invoice")
