"""Factories for allocation tests: nodes and edges through the services, approved costs."""

from datetime import date
from decimal import Decimal

from allocation import services
from allocation.models import CostNode
from costs.models import Cost, CostCategory
from costs.summary.maintain import summary_add
from tests.orgunits.factories import OrganizationUnitFactory, ResourceFactory, UserFactory

MARCH = {"period_start": date(2025, 3, 1), "period_end": date(2025, 3, 31)}


def node(name: str, kind: str = CostNode.Kind.PRODUCT, **fields) -> CostNode:
    return services.node_create(name=name, kind=kind, **fields)


def resource_node(name: str, kind: str = CostNode.Kind.RESOURCE) -> CostNode:
    return node(name, kind, resource=ResourceFactory(name=name))


def edge(parent, child, strategy="equal", parameters=None, **fields):
    return services.edge_create(
        parent=parent, child=child, strategy=strategy, parameters=parameters or {}, **fields
    )


def usage(node_, metric, quantity, day=date(2025, 3, 15), dimension=""):
    return services.usage_record_create(
        node=node_, metric=metric, date=day, quantity=Decimal(str(quantity)), dimension=dimension
    )


def category(slug: str) -> CostCategory:
    existing = CostCategory.objects.filter(slug=slug).first()
    if existing:
        return existing
    return CostCategory.objects.create(name=slug.title(), slug=slug, dimension=slug)


def approved_cost(
    amount,
    *,
    resource=None,
    entity=None,
    organization_unit=None,
    category_slug="compute",
    incurred_on=date(2025, 3, 15),
    status=Cost.Status.APPROVED,
) -> Cost:
    """An approved cost in USD (the reporting currency) linked to the given object."""
    unit = (
        organization_unit
        or (resource.organization_unit if resource else None)
        or (entity.organization_unit if entity else None)
        or OrganizationUnitFactory()
    )
    amount = Decimal(str(amount))
    cost = Cost.objects.create(
        amount=amount,
        currency="USD",
        amount_reporting=amount,
        incurred_on=incurred_on,
        category=category(category_slug),
        resource=resource,
        entity=entity,
        organization_unit=unit,
        submitted_by=UserFactory(),
        status=status,
        kind=Cost.Kind.CHARGE if amount >= 0 else Cost.Kind.CREDIT,
    )
    summary_add(ids=[cost.pk])  # a row written directly still counts in the spend summary
    return cost
