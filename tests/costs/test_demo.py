from collections import Counter

import pytest

from costs.demo import seed_costs
from costs.models import Cost, CostEvent, ExchangeRate

pytestmark = pytest.mark.django_db


def test_demo_costs_are_realistic_and_idempotent(org):
    result = seed_costs(context={})
    created = result["costs_created"]
    assert created == Cost.objects.count() > 30
    statuses = Counter(Cost.objects.values_list("status", flat=True))
    assert statuses["approved"] > statuses["pending"] > 0
    assert statuses["rejected"] > 0
    assert set(Cost.objects.values_list("currency", flat=True)) == {"USD", "EUR", "GBP"}
    months = {d.replace(day=1) for d in Cost.objects.values_list("incurred_on", flat=True)}
    assert len(months) >= 12
    assert ExchangeRate.objects.filter(currency="EUR").count() > 360
    eur = Cost.objects.filter(currency="EUR").first()
    assert eur.exchange_rate != 1 and eur.amount_reporting != eur.amount
    events = CostEvent.objects.count()
    rates = ExchangeRate.objects.count()

    again = seed_costs(context={})
    assert again["costs_created"] == 0
    assert Cost.objects.count() == created
    assert CostEvent.objects.count() == events
    assert ExchangeRate.objects.count() == rates
