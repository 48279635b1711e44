"""In a real browser: an approver approves a cost from the inbox with a comment."""

import pytest
from selenium.webdriver.common.by import By

from orgunits import services as org_services
from tests.costs.factories import make_cost
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory

pytestmark = pytest.mark.e2e


def test_approver_approves_a_cost_with_a_comment_and_it_leaves_the_inbox(sign_in, live_server):
    approver = UserFactory(username="olivia")
    submitter = UserFactory(username="sam")
    unit = OrganizationUnitFactory(name="Data team", code="data", owner=approver)
    org_services.membership_set(user=submitter, unit=unit, role="member")
    cost = make_cost(
        submitted_by=submitter,
        organization_unit=unit,
        amount="250.00",
        description="Warehouse credits",
    )
    other = make_cost(submitted_by=submitter, organization_unit=unit, amount="9.99")

    browser = sign_in(approver, "pass-1234")  # the factories' password
    browser.find_element(By.ID, "nav-approvals").click()
    row = browser.find_element(By.ID, f"cost-{cost.pk}")
    assert "Warehouse credits" in row.text and "250.00 USD" in row.text
    assert browser.find_element(By.ID, f"cost-{other.pk}")

    browser.find_element(By.ID, f"comment-{cost.pk}").send_keys("Budgeted for Q3, approved")
    browser.find_element(By.ID, f"approve-{cost.pk}").click()

    messages = browser.find_element(By.CSS_SELECTOR, ".messages").text
    assert f"Cost #{cost.pk} approved." in messages
    assert not browser.find_elements(By.ID, f"cost-{cost.pk}")
    assert browser.find_element(By.ID, f"cost-{other.pk}")  # the other one still waits

    browser.get(f"{live_server.url}/costs/{cost.pk}/")
    assert browser.find_element(By.ID, "cost-status").text == "Approved"
    approval = browser.find_element(By.CSS_SELECTOR, "#audit-trail tr.event-approve")
    assert "Budgeted for Q3, approved" in approval.text
    assert "pending → approved" in approval.text
    assert approver.get_full_name() in approval.text
