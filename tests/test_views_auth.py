"""Login and logout pages: redirects, CSRF on the form, logout only by POST."""

import re

import pytest
from django.test import Client

from tests.orgunits.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-erin-123"


@pytest.fixture
def erin():
    return UserFactory(username="erin", first_name="Erin", last_name="Example", password=PASSWORD)


def csrf_token_from(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_anonymous_visitor_is_sent_to_login(client):
    resp = client.get("/")
    assert resp.status_code == 302
    assert resp["Location"] == "/login/?next=/"


def test_login_page_renders_a_form_with_csrf_token(client):
    resp = client.get("/login/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'name="username"' in html and 'name="password"' in html
    assert csrf_token_from(html)
    assert 'id="main-nav"' not in html


def test_login_then_dashboard_shows_navigation_and_name(client, erin):
    resp = client.post("/login/", {"username": "erin", "password": PASSWORD})
    assert resp.status_code == 302
    assert resp["Location"] == "/"

    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="main-nav"' in html
    assert "Erin Example" in html


def test_wrong_password_is_refused(client, erin):
    resp = client.post("/login/", {"username": "erin", "password": "wrong"})
    assert resp.status_code == 200
    assert "didn't match" in resp.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


def test_inactive_user_cannot_log_in(client):
    UserFactory(username="gone", password=PASSWORD, is_active=False)
    resp = client.post("/login/", {"username": "gone", "password": PASSWORD})
    assert resp.status_code == 200
    assert "_auth_user_id" not in client.session


def test_login_form_enforces_csrf(erin):
    client = Client(enforce_csrf_checks=True)

    without_token = client.post("/login/", {"username": "erin", "password": PASSWORD})
    assert without_token.status_code == 403
    assert "_auth_user_id" not in client.session

    token = csrf_token_from(client.get("/login/").content.decode())
    with_token = client.post(
        "/login/", {"username": "erin", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert with_token.status_code == 302
    assert client.session["_auth_user_id"] == str(erin.pk)


def test_login_follows_a_local_next_but_not_a_foreign_one(client, erin):
    resp = client.post(
        "/login/", {"username": "erin", "password": PASSWORD, "next": "/api/v1/org-units/"}
    )
    assert resp["Location"] == "/api/v1/org-units/"
    client.logout()

    resp = client.post(
        "/login/", {"username": "erin", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert resp["Location"] == "/"


def test_signed_in_user_visiting_login_goes_to_dashboard(client, erin):
    client.force_login(erin)
    resp = client.get("/login/")
    assert resp.status_code == 302
    assert resp["Location"] == "/"


def test_logout_is_post_only(client, erin):
    client.force_login(erin)

    assert client.get("/logout/").status_code == 405
    assert client.get("/").status_code == 200  # still signed in

    resp = client.post("/logout/")
    assert resp.status_code == 302
    assert resp["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_logout_enforces_csrf(erin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(erin)
    assert client.post("/logout/").status_code == 403
    assert client.get("/").status_code == 200

    token = csrf_token_from(client.get("/").content.decode())
    assert client.post("/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get("/").status_code == 302
