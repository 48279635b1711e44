"""Admin pages of billing imports render and write mapping rules through the service."""

import pytest

from costs.models import MappingRule
from tests.imports.conftest import sample_bytes

pytestmark = pytest.mark.django_db


def test_admin_pages_render(admin_client, run):
    batch = run(sample_bytes("gcp.csv"))
    for url in (
        "/admin/costs/importbatch/",
        f"/admin/costs/importbatch/{batch.pk}/change/",
        "/admin/costs/importedcost/",
        "/admin/costs/mappingrule/",
        "/admin/costs/mappingrule/add/",
        "/admin/costs/importapprovalpolicy/",
    ):
        assert admin_client.get(url).status_code == 200, url


def test_admin_creates_a_mapping_rule(admin_client, landing):
    response = admin_client.post(
        "/admin/costs/mappingrule/add/",
        {
            "name": "web",
            "priority": 10,
            "active": "on",
            "match_tag_key": "team",
            "match_tag_value": "web",
            "organization_unit": landing.pk,
        },
    )
    assert response.status_code == 302
    assert MappingRule.objects.get().organization_unit == landing
