"""In a real browser: record a cost, get it approved, see it in "My costs", the dashboard and
the explorer; a block budget's refusal on the form; the explorer's CSV; narrow screens."""

from decimal import Decimal

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By

from budgets.models import Budget
from costs.models import Cost
from orgunits import services as org_services
from tests.budgets.factories import BudgetFactory
from tests.costs.factories import make_cost
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory

from .waits import click_to_new_page

pytestmark = pytest.mark.e2e

PASSWORD = "pass-1234"  # the factories' password


@pytest.fixture
def team(transactional_db):
    approver = UserFactory(username="olivia", first_name="Olivia", last_name="Owner")
    member = UserFactory(username="sam", first_name="Sam", last_name="Member")
    unit = OrganizationUnitFactory(name="Web team", code="web", owner=approver)
    org_services.membership_set(user=member, unit=unit, role="member")
    earlier = make_cost(
        status=Cost.Status.APPROVED,
        submitted_by=member,
        organization_unit=unit,
        amount="100.00",
        incurred_on=timezone.localdate(),
    )
    return {"approver": approver, "member": member, "unit": unit, "earlier": earlier}


def _label(unit) -> str:
    return f"{unit.name} ({unit.code}) [unit #{unit.pk}]"


def _fill(browser, unit, amount: str, description: str) -> None:
    browser.find_element(By.ID, "id_target").send_keys(_label(unit))
    browser.find_element(By.ID, "id_amount").send_keys(amount)
    browser.find_element(By.ID, "id_description").send_keys(description)
    browser.find_element(By.ID, "tag-key-1").send_keys("team")
    browser.find_element(By.ID, "tag-value-1").send_keys("web")


def _sign_out(browser) -> None:
    browser.find_element(By.ID, "logout-button").click()
    browser.find_element(By.NAME, "username")


def _amount(text: str) -> Decimal:
    return Decimal(text.split()[0].replace(",", ""))


def test_record_approve_and_see_it_everywhere(sign_in, live_server, team):
    browser = sign_in(team["member"], PASSWORD)
    dashboard_before = _amount(browser.find_element(By.ID, "spend-this-month").text)
    browser.find_element(By.ID, "nav-explorer").click()
    explorer_before = _amount(browser.find_element(By.ID, "explorer-total").text)
    assert dashboard_before == explorer_before == Decimal("100.00")

    browser.find_element(By.ID, "nav-record").click()
    _fill(browser, team["unit"], "42.50", "Figma seats")
    browser.find_element(By.ID, "submit-cost").click()
    assert "submitted for approval" in browser.find_element(By.CSS_SELECTOR, ".messages").text
    assert browser.find_element(By.ID, "cost-status").text == "Pending approval"
    cost = Cost.objects.get(description="Figma seats")
    assert cost.tags == {"team": "web"} and cost.amount == Decimal("42.50")

    browser.find_element(By.ID, "nav-mine").click()
    assert browser.find_element(By.ID, f"status-{cost.pk}").text == "Pending approval"
    assert "Olivia Owner" in browser.find_element(By.ID, f"deciders-{cost.pk}").text
    _sign_out(browser)

    sign_in(team["approver"], PASSWORD)
    browser.find_element(By.ID, "nav-approvals").click()
    browser.find_element(By.ID, f"comment-{cost.pk}").send_keys("Seats for the new hires")
    browser.find_element(By.ID, f"approve-{cost.pk}").click()
    assert f"Cost #{cost.pk} approved." in browser.find_element(By.CSS_SELECTOR, ".messages").text
    _sign_out(browser)

    sign_in(team["member"], PASSWORD)
    assert _amount(
        browser.find_element(By.ID, "spend-this-month").text
    ) == dashboard_before + Decimal("42.50")
    browser.find_element(By.ID, "nav-mine").click()
    assert browser.find_element(By.ID, f"status-{cost.pk}").text == "Approved"
    decision = browser.find_element(By.ID, f"decision-{cost.pk}").text
    assert "Olivia Owner" in decision and "Seats for the new hires" in decision
    browser.find_element(By.ID, "nav-explorer").click()
    explorer_after = _amount(browser.find_element(By.ID, "explorer-total").text)
    assert explorer_after == explorer_before + Decimal("42.50")
    browser.find_element(By.LINK_TEXT, f"#{cost.pk}").click()
    assert browser.find_element(By.ID, "cost-status").text == "Approved"


def test_a_block_budget_refusal_is_shown_on_the_form(sign_in, live_server, team):
    BudgetFactory(
        name="Web hard cap",
        organization_unit=team["unit"],
        amount=Decimal("120.00"),
        action=Budget.Action.BLOCK,
    )
    browser = sign_in(team["member"], PASSWORD)
    browser.find_element(By.ID, "nav-record").click()
    _fill(browser, team["unit"], "75.00", "Too much")
    browser.find_element(By.ID, "submit-cost").click()
    refusal = browser.find_element(By.ID, "budget-refusal").text
    assert "Web hard cap" in refusal
    assert "120.00 USD" in refusal  # limit
    assert "100.00 USD" in refusal  # spent (the approved cost)
    assert "20.00 USD" in refusal  # remaining
    assert "75.00 USD" in refusal  # this cost adds
    # what was typed is still there, nothing recorded
    assert browser.find_element(By.ID, "id_amount").get_attribute("value") == "75.00"
    assert not Cost.objects.filter(description="Too much").exists()
    # as a draft it is kept
    browser.find_element(By.ID, "save-draft").click()
    assert "saved as a draft" in browser.find_element(By.CSS_SELECTOR, ".messages").text
    assert Cost.objects.get(description="Too much").status == Cost.Status.DRAFT


FETCH = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: "same-origin"}).then(r => r.text()).then(done);
"""


def test_the_explorer_csv_download_equals_the_api_csv(sign_in, live_server, team):
    make_cost(
        status=Cost.Status.APPROVED,
        submitted_by=team["member"],
        organization_unit=team["unit"],
        amount="9.99",
        tags={"team": "ops"},
        incurred_on=timezone.localdate(),
    )
    browser = sign_in(team["member"], PASSWORD)
    browser.get(f"{live_server.url}/costs/")
    browser.find_element(By.ID, "id_tag").send_keys("team=ops")
    click_to_new_page(browser, browser.find_element(By.ID, "apply-filters"))
    assert "tag=team%3Dops" in browser.current_url
    assert browser.find_element(By.ID, "explorer-total").text == "9.99 USD"
    link = browser.find_element(By.ID, "csv-download").get_attribute("href")
    browser.set_script_timeout(20)
    ours = browser.execute_async_script(FETCH, link)
    query = {"status": "approved", "tags": "team:ops", "format": "csv"}
    api_url = f"{live_server.url}/api/v1/costs/?" + "&".join(f"{k}={v}" for k, v in query.items())
    theirs = browser.execute_async_script(FETCH, api_url)
    assert ours == theirs
    lines = ours.strip().splitlines()
    assert len(lines) == 2 and "9.99" in lines[1] and "team=ops" in lines[1]
    assert not ours.startswith("<")  # text, not an error page


@pytest.mark.parametrize("path", ["/costs/new/", "/costs/mine/", "/costs/?group_by=month", "/"])
def test_no_sideways_scroll_at_390_px(sign_in, live_server, team, path):
    browser = sign_in(team["member"], PASSWORD)
    browser.set_window_size(390, 900)
    try:
        browser.get(f"{live_server.url}{path}")
        browser.find_element(By.ID, "nav-record")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        viewport = browser.execute_script("return document.documentElement.clientWidth")
        assert width <= viewport, f"{path}: {width} px wide in a {viewport} px window"
        nav = browser.find_element(By.ID, "main-nav")
        assert nav.rect["x"] + nav.rect["width"] <= viewport
    finally:
        browser.set_window_size(1280, 900)
