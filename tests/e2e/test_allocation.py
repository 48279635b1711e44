"""In a real browser: the allocation page draws the run's flow diagram, and choosing a
product highlights where its cost came from."""

import pytest
from selenium.webdriver.common.by import By

from allocation import services
from allocation.models import CostNode
from tests.allocation.factories import MARCH, approved_cost, edge, node, resource_node
from tests.orgunits.factories import finance_user

pytestmark = pytest.mark.e2e


def test_the_diagram_is_drawn_and_a_product_highlights_its_sources(sign_in, live_server):
    shared = resource_node("database", CostNode.Kind.SHARED_SERVICE)
    for name in ("web_app", "api", "mobile"):
        edge(shared, node(name))
    approved_cost("100.00", resource=shared.resource, category_slug="database")
    run = services.allocation_run(**MARCH)
    browser = sign_in(finance_user(username="fiona"), "pass-1234")
    browser.get(f"{live_server.url}/allocation/?run={run.pk}")
    svg = browser.find_element(By.CSS_SELECTOR, "#flow-diagram svg.sankey")
    assert svg.size["width"] > 600 and svg.size["height"] > 50
    bands = browser.find_elements(By.CSS_SELECTOR, "svg.sankey path.flow")
    assert len(bands) == 3 and all(b.size["width"] > 100 for b in bands)
    web = CostNode.objects.get(name="web_app")
    browser.find_element(By.CSS_SELECTOR, f"#diagram-node-{web.pk} a").click()
    assert "Why web_app costs 33.34 USD" in browser.find_element(By.ID, "explanation").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.sankey path.flow.on-path")) == 1
