"""In a real browser 390 px wide (a phone): the navigation wraps and no page scrolls
sideways; wide tables and the flow diagram scroll inside their own boxes."""

import pytest
from selenium.webdriver.common.by import By

from allocation import services
from allocation.models import CostNode
from tests.allocation.factories import MARCH, approved_cost, edge, node, resource_node
from tests.budgets.factories import BudgetFactory
from tests.orgunits.factories import finance_user

pytestmark = pytest.mark.e2e

PAGES = [
    "/",
    "/approvals/",
    "/budgets/",
    "/notifications/",
    "/allocation/",
    "/allocation/pnl/",
    "/recommendations/",
    "/costs/",
    "/costs/mine/",
    "/costs/new/",
]


def test_no_page_scrolls_sideways_at_390_px(sign_in, live_server):
    shared = resource_node("database", CostNode.Kind.SHARED_SERVICE)
    for name in ("web_app", "api"):
        edge(shared, node(name))
    cost = approved_cost("100.00", resource=shared.resource, category_slug="database")
    services.allocation_run(**MARCH)
    BudgetFactory(name="Database budget", organization_unit=cost.organization_unit)
    browser = sign_in(finance_user(username="fiona"), "pass-1234")
    browser.set_window_size(390, 900)
    try:
        for path in [*PAGES, f"/units/{cost.organization_unit_id}/"]:
            browser.get(f"{live_server.url}{path}")
            browser.find_element(By.ID, "current-user")
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls {overflow} px sideways"
            nav = browser.find_element(By.TAG_NAME, "nav")
            assert nav.rect["x"] >= 0 and nav.rect["x"] + nav.rect["width"] <= 390, path
    finally:
        browser.set_window_size(1280, 900)
