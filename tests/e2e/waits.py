"""Waiting for the page a click loads.

``find_element`` waits for an element to appear, which is enough when the next page has
elements the current one lacks; when both pages have the same ids (a filter form that
reloads its own page, a heading on every page) it can find the old page's element first.
"""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

PAGE_LOAD_SECONDS = 10


def click_to_new_page(browser, element) -> None:
    """Click ``element`` and return once the page it loads has replaced the current one."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, PAGE_LOAD_SECONDS).until(expected_conditions.staleness_of(page))
