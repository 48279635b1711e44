"""The worked example of product economics (``econ``), shared by its tests.

See ``tests/allocation/test_economics.py`` for the figures it gives. ``checkout`` and
``search`` belong to the unit shop (member ``shopper``), ``reporting`` to bank (member
``banker``); ``suite``, ``db`` and ``k8s`` link no unit, so only finance and auditors see them.
"""

from datetime import date
from decimal import Decimal

import pytest

from allocation import services
from allocation.models import CostNode
from costs.models import ExchangeRate
from orgunits import services as org_services
from tests.orgunits.factories import (
    EntityFactory,
    OrganizationUnitFactory,
    ResourceFactory,
    UserFactory,
)

from .factories import MARCH, approved_cost, edge, node, usage

D = Decimal


@pytest.fixture
def econ():
    ExchangeRate.objects.create(currency="EUR", date=date(2025, 1, 1), rate=D("1.20"))
    shop = OrganizationUnitFactory(name="Shop", code="shop")
    bank = OrganizationUnitFactory(name="Bank", code="bank")
    db = node("db", CostNode.Kind.SHARED_SERVICE, resource=ResourceFactory())
    k8s = node("k8s", CostNode.Kind.PLATFORM, resource=ResourceFactory())
    suite = node("suite")
    checkout = node("checkout", entity=EntityFactory(organization_unit=shop), parent_product=suite)
    search = node("search", entity=EntityFactory(organization_unit=shop), parent_product=suite)
    reporting = node("reporting", entity=EntityFactory(organization_unit=bank))
    edge(db, reporting, "fixed_percent", {"percent": "30"})
    edge(db, checkout, "residual_to_max", {"metric": "requests"})
    edge(db, search, "residual_to_max", {"metric": "requests"})
    edge(k8s, checkout, "proportional", {"metric": "cpu_hours"})
    edge(k8s, search, "proportional", {"metric": "cpu_hours"})
    edge(reporting, checkout, "fixed_percent", {"percent": "40"})
    usage(checkout, "requests", 400_000)
    usage(search, "requests", 100_000)
    usage(checkout, "cpu_hours", 1)
    usage(search, "cpu_hours", 2)
    approved_cost("1000.00", resource=db.resource, category_slug="database")
    approved_cost("600.00", resource=k8s.resource)
    approved_cost("50.00", entity=reporting.entity, category_slug="other")
    run = services.allocation_run(**MARCH)
    assert run.status == "succeeded", run.error
    revenue = [
        (checkout, date(2025, 3, 1), "month", "1500.00", "USD"),
        (checkout, date(2025, 3, 10), "day", "100.00", "EUR"),  # 120.00 USD
        (checkout, date(2025, 4, 1), "day", "999.00", "USD"),  # another period
        (search, date(2025, 3, 5), "day", "300.00", "USD"),
        (suite, date(2025, 3, 20), "day", "50.00", "USD"),
    ]
    for n, day, grain, amount, currency in revenue:
        services.revenue_set(node=n, date=day, grain=grain, amount=D(amount), currency=currency)
    shopper = UserFactory(username="shopper")
    org_services.membership_set(user=shopper, unit=shop)
    banker = UserFactory(username="banker")
    org_services.membership_set(user=banker, unit=bank)
    return {
        "run": run,
        "shop": shop,
        "bank": bank,
        "shopper": shopper,
        "banker": banker,
        **{n.name: n for n in (db, k8s, suite, checkout, search, reporting)},
    }
