"""In a real browser: sign in through the form, see the navigation, sign out."""

import pytest
from selenium.webdriver.common.by import By

from tests.orgunits.factories import UserFactory

pytestmark = pytest.mark.e2e


def absent(browser, by, value) -> bool:
    """True when no such element is on the page, without waiting the implicit timeout."""
    browser.implicitly_wait(0)
    try:
        return browser.find_elements(by, value) == []
    finally:
        browser.implicitly_wait(5)


def test_sign_in_see_navigation_and_sign_out(browser, live_server):
    UserFactory(username="erin", first_name="Erin", last_name="Example", password="pw-erin-123")

    browser.get(f"{live_server.url}/")
    assert "/login/" in browser.current_url  # anonymous visitors are sent to sign in
    browser.find_element(By.NAME, "username").send_keys("erin")
    browser.find_element(By.NAME, "password").send_keys("pw-erin-123")
    browser.find_element(By.ID, "login-button").click()

    nav = browser.find_element(By.ID, "main-nav")
    assert "Dashboard" in nav.text
    assert browser.find_element(By.ID, "current-user").text == "Erin Example"
    assert browser.current_url.rstrip("/") == live_server.url.rstrip("/")

    browser.find_element(By.ID, "logout-button").click()

    browser.find_element(By.ID, "login-button")  # waits for the login page
    assert browser.current_url.endswith("/login/")
    assert absent(browser, By.ID, "main-nav")
    browser.get(f"{live_server.url}/")
    assert "/login/" in browser.current_url  # the session is really gone


def test_wrong_password_stays_on_the_login_page(browser, live_server):
    UserFactory(username="erin", password="pw-erin-123")

    browser.get(f"{live_server.url}/login/")
    browser.find_element(By.NAME, "username").send_keys("erin")
    browser.find_element(By.NAME, "password").send_keys("not-the-password")
    browser.find_element(By.ID, "login-button").click()

    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]")
    assert "didn't match" in alert.text
    assert absent(browser, By.ID, "main-nav")


def test_logged_in_browser_fixture_signs_in(logged_in_browser, live_server):
    user = UserFactory(
        username="fred", first_name="Fred", last_name="Fixture", password="pw-fred-1"
    )

    browser = logged_in_browser(user, "pw-fred-1")

    assert browser.find_element(By.ID, "current-user").text == "Fred Fixture"
    assert browser.find_element(By.ID, "main-nav").is_displayed()


def test_missing_chromium_fails_in_ci_and_skips_elsewhere(monkeypatch):
    from tests.e2e import conftest as e2e

    monkeypatch.setattr(e2e, "CHROMIUM_BIN", "/nonexistent/chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium"):
        e2e._require_chromium()

    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="make e2e-deps"):
        e2e._require_chromium()
