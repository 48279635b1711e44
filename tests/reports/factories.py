"""Costs for report tests, built directly as rows (reports only read them).

``Cost.status`` is a protected FSM field: it may be set once, at construction, which is what
these factories do; nothing here bypasses the approval services for a cost that already exists.
"""

from datetime import date
from decimal import Decimal

import factory

from costs.models import Cost, CostCategory, CostStatus
from costs.summary.maintain import summary_add
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory


class CostCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CostCategory
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Report category {n}")
    slug = factory.Sequence(lambda n: f"report-category-{n}")
    parent = None


class CostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cost

    amount = Decimal("10.00")
    currency = "USD"
    amount_reporting = factory.LazyAttribute(lambda c: c.amount)
    exchange_rate = Decimal(1)
    incurred_on = date(2025, 3, 15)
    category = factory.SubFactory(CostCategoryFactory)
    organization_unit = factory.SubFactory(OrganizationUnitFactory)
    submitted_by = factory.SubFactory(UserFactory)
    status = CostStatus.APPROVED
    tags = factory.LazyFunction(dict)
    kind = factory.LazyAttribute(lambda c: "credit" if c.amount < 0 else "charge")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # rows written directly still count in the spend summary, as the services keep it
        cost = super()._create(model_class, *args, **kwargs)
        summary_add(ids=[cost.pk])
        return cost
