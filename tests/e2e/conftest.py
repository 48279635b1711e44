"""Browser tests: Debian's chromium, headless, driven by selenium against ``live_server``.

Fixtures for every app's e2e tests:

- ``browser``: a headless chromium WebDriver with a clean cookie jar and an implicit wait
  (``find_element`` waits up to 5 s for an element to appear);
- ``sign_in``: ``sign_in(user_or_username, password)`` signs in through the login form and
  returns the browser on the signed-in page;
- ``logged_in_browser``: ``logged_in_browser(user, password)``, the same, for readability.

Every test in this folder is marked ``e2e`` and runs with a transactional database (the
live server's thread must see committed rows). The flush after each test replays
``post_migrate``, which re-creates the role groups and default categories.

Chromium and chromedriver come from Debian (``make e2e-deps`` installs them); the paths can
be overridden with ``CHROMIUM_BIN`` and ``CHROMEDRIVER``. When they are missing the tests
fail with CI=true, and are skipped with a hint otherwise.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM_BIN = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
]
IMPLICIT_WAIT_SECONDS = 5
E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            # live_server needs committed rows; prepended so it wins over a module's own mark.
            item.add_marker(pytest.mark.django_db(transaction=True), append=False)


def _require_chromium() -> None:
    missing = [path for path in (CHROMIUM_BIN, CHROMEDRIVER) if not Path(path).exists()]
    if not missing:
        return
    message = (
        f"Browser tests need Debian's chromium and chromium-driver; missing: {', '.join(missing)}. "
        "Install them with `make e2e-deps` (apt-get install chromium chromium-driver)."
    )
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def _chromium():
    _require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="costtrack-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM_BIN
    for argument in [*CHROMIUM_ARGS, f"--user-data-dir={profile}"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(IMPLICIT_WAIT_SECONDS)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(_chromium, live_server):
    """The shared headless chromium, signed out, for one test."""
    _chromium.delete_all_cookies()
    yield _chromium
    _chromium.delete_all_cookies()


@pytest.fixture
def sign_in(browser, live_server):
    from selenium.webdriver.common.by import By

    def do_sign_in(user, password: str):
        username = getattr(user, "username", user)
        browser.get(f"{live_server.url}/login/")
        browser.find_element(By.NAME, "username").send_keys(username)
        browser.find_element(By.NAME, "password").send_keys(password)
        browser.find_element(By.ID, "login-button").click()
        browser.find_element(By.ID, "current-user")  # waits for the signed-in page
        return browser

    return do_sign_in


@pytest.fixture
def logged_in_browser(sign_in):
    """``logged_in_browser(user, password)`` -> the browser, signed in as that user."""
    return sign_in
