"""Helpers for the periods tests: recurring items through the service, the seed's example."""

from datetime import date
from decimal import Decimal

from costs.recurring import recurring_cost_create

# seed 004: five monthly items, €87 a month
SEED_ITEMS = [
    ("Hosteurope server", "10.00"),
    ("Bubble.io plan", "32.00"),
    ("Coulomb.social domain", "5.00"),
    ("Claude Code plan", "20.00"),
    ("Gemini plan", "20.00"),
]


def recurring(*, acting_user, organization_unit, **fields):
    values = {
        "name": "Server",
        "amount": Decimal("10.00"),
        "currency": "EUR",
        "cadence": "monthly",
        "start_date": date(2025, 1, 1),
    }
    values.update(fields)
    if isinstance(values["amount"], str):
        values["amount"] = Decimal(values["amount"])
    return recurring_cost_create(
        acting_user=acting_user, organization_unit=organization_unit, **values
    )


def seed_items(*, acting_user, organization_unit, currency="EUR"):
    return [
        recurring(
            acting_user=acting_user,
            organization_unit=organization_unit,
            name=name,
            amount=amount,
            currency=currency,
        )
        for name, amount in SEED_ITEMS
    ]
