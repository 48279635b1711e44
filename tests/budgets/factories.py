"""Factories for budgets tests: budgets are made through ``budget_create`` like a user would."""

from decimal import Decimal

import factory

from budgets import services
from budgets.models import Budget
from tests.orgunits.factories import OrganizationUnitFactory


class BudgetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Budget

    name = factory.Sequence(lambda n: f"Budget {n}")
    amount = Decimal("1000.00")
    currency = "USD"
    period = Budget.Period.MONTHLY
    organization_unit = factory.SubFactory(OrganizationUnitFactory)
    action = Budget.Action.WARN

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.budget_create(**kwargs)
