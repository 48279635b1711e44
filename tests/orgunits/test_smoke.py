import pytest

from tests.orgunits.factories import OrganizationUnitFactory, finance_user

pytestmark = pytest.mark.django_db


def test_finance_creates_unit_under_parent(client_for):
    root = OrganizationUnitFactory(name="Acme", code="acme")
    resp = client_for(finance_user()).post(
        "/api/v1/org-units/", {"name": "Engineering", "code": "eng", "parent": root.pk}
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["level"] == 1
