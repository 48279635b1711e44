from decimal import Decimal

import pytest

from costs.models import Cost, CostEvent, IdempotencyKey

pytestmark = pytest.mark.django_db

URL = "/api/v1/costs/"


def payload(org, **kw):
    data = {
        "amount": "120.50",
        "currency": "USD",
        "incurred_on": "2025-03-10",
        "organization_unit": org.platform.pk,
        "description": "load balancer",
        "tags": {"env": "prod"},
    }
    data.update(kw)
    return data


def test_create_pending_returns_cost_and_warnings(org, client_for):
    response = client_for(org.member).post(URL, payload(org), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["warnings"] == []
    assert body["amount"] == "120.50"
    assert body["approver"]["username"] == "eng_owner"
    assert [h["action"] for h in body["history"]] == ["create", "submit"]


def test_idempotency_key_returns_first_cost(org, client_for):
    client = client_for(org.member)
    first = client.post(URL, payload(org), format="json", HTTP_IDEMPOTENCY_KEY="abc")
    second = client.post(URL, payload(org), format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert Cost.objects.count() == 1
    assert CostEvent.objects.count() == 2
    assert IdempotencyKey.objects.count() == 1
    assert Decimal(second.json()["amount_reporting"]) == Decimal("120.50")
