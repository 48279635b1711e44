"""The OpenAPI schema and the Swagger UI, served without any CDN."""

import re

import pytest
from django.contrib.staticfiles import finders

from tests.orgunits.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client):
    client.force_login(UserFactory())
    return client


def test_schema_lists_the_organisation_endpoints(signed_in):
    resp = signed_in.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert resp.status_code == 200
    schema = resp.json()
    for path in (
        "/api/v1/org-units/",
        "/api/v1/org-units/{id}/",
        "/api/v1/entities/",
        "/api/v1/resources/",
        "/api/v1/auth/token/",
    ):
        assert path in schema["paths"], path
    params = {p["name"] for p in schema["paths"]["/api/v1/resources/"]["get"]["parameters"]}
    assert {"provider", "account", "region", "owner", "tag", "limit", "offset"} <= params
    unit_params = {p["name"] for p in schema["paths"]["/api/v1/org-units/"]["get"]["parameters"]}
    assert {"parent", "owner"} <= unit_params


def test_swagger_ui_uses_only_local_static_files(signed_in):
    resp = signed_in.get("/api/docs/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "swagger-ui" in html
    assert not re.search(r"""(src|href)=["']https?://""", html)
    assert not re.search(r"https?://(cdn|unpkg|cdnjs|fonts)\.", html)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assets = re.findall(r"""/static/([^"'\s?]+)""", html)
    assert assets
    for asset in assets:
        # collectstatic + whitenoise serve what the finders find
        assert finders.find(asset), asset
