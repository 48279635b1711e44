"""Amounts are plain decimals: ``1e3`` is not an amount of 1000.00 anywhere in the API."""

import pytest

from budgets.models import Budget
from costs.models import Cost
from costs.period_models import RecurringCost

pytestmark = pytest.mark.django_db

PLAIN = "Amounts must be plain decimals like 1000.00"


def cost(org, amount):
    return {
        "amount": amount,
        "currency": "USD",
        "incurred_on": "2025-03-10",
        "organization_unit": org.platform.pk,
    }


def budget(org, amount):
    return {
        "name": "Platform cloud",
        "amount": amount,
        "currency": "USD",
        "period": "quarterly",
        "organization_unit": org.platform.pk,
        "action": "block",
    }


def recurring(org, amount):
    return {
        "name": "Server",
        "amount": amount,
        "currency": "USD",
        "cadence": "monthly",
        "start_date": "2025-01-01",
        "organization_unit": org.platform.pk,
    }


ENDPOINTS = [
    ("/api/v1/costs/", cost, Cost),
    ("/api/v1/budgets/", budget, Budget),
    ("/api/v1/recurring-costs/", recurring, RecurringCost),
]


@pytest.mark.parametrize(("url", "body", "model"), ENDPOINTS)
@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1e3", PLAIN),
        ("1E3", PLAIN),
        ("10e-1", PLAIN),
        (" 1 ", PLAIN),
        ("+1", PLAIN),
        ("1_000", PLAIN),
        ("NaN", "finite number"),
        ("Infinity", "finite number"),
        ("-Infinity", "finite number"),
        ("sNaN", "finite number"),
        ("abc", "Enter a valid decimal amount"),
        ("", "Enter a valid decimal amount"),
        (True, "Enter a valid decimal amount"),
        ({"value": "1"}, "Enter a valid decimal amount"),
    ],
)
def test_amounts_that_are_not_plain_decimals(org, client_for, url, body, model, amount, message):
    response = client_for(org.fin).post(url, body(org, amount), format="json")
    assert response.status_code == 400, response.content
    (text,) = response.json()["amount"]
    assert message in text
    assert "1000.00" in text
    assert not model.objects.exists()


@pytest.mark.parametrize(("url", "body", "model"), ENDPOINTS)
def test_a_json_number_with_an_exponent_is_refused(org, client_for, url, body, model):
    import json

    raw = json.dumps(body(org, "AMOUNT")).replace('"AMOUNT"', "1e3")
    response = client_for(org.fin).post(url, data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "amount": [
            "Amounts must be plain decimals like 1000.00 (no exponent, spaces or leading plus "
            "sign): got '1e3'."
        ]
    }
    assert not model.objects.exists()


@pytest.mark.parametrize(("url", "body", "model"), ENDPOINTS)
@pytest.mark.parametrize(("sent", "stored"), [("1000.00", "1000.00"), ("12", "12"), ("0.5", "0.5")])
def test_plain_decimals_as_strings_and_numbers_are_accepted(
    org, client_for, url, body, model, sent, stored
):
    import json
    from decimal import Decimal

    client = client_for(org.fin)
    as_string = client.post(url, body(org, sent), format="json")
    assert as_string.status_code == 201, as_string.content
    raw = json.dumps({**body(org, "AMOUNT"), "name": "second"}).replace('"AMOUNT"', sent)
    as_number = client.post(url, data=raw, content_type="application/json")
    assert as_number.status_code == 201, as_number.content
    assert {row.amount for row in model.objects.all()} == {Decimal(stored)}


def test_budget_check_refuses_an_exponent(org, client_for):
    response = client_for(org.fin).post(
        "/api/v1/budgets/check/",
        {"amount": "1e3", "currency": "USD", "organization_unit": org.platform.pk},
        format="json",
    )
    assert response.status_code == 400
    assert PLAIN in response.json()["amount"][0]
