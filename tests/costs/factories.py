"""Factories for costs tests. Costs are built through the services (``status`` is a protected
django-fsm field), so every cost made here has the events a real one would have.

``make_cost(status=..., **fields)`` is the documented helper: it creates the cost as its
submitter (pending, or draft for ``status="draft"``) and then walks the state machine with
the given decider (finance by default) to reach ``approved``, ``rejected``, ``cancelled``
or ``voided``.
"""

from datetime import date
from decimal import Decimal

import factory

from costs import services
from costs.models import Cost, CostCategory, ExchangeRate
from costs.summary.maintain import summary_add
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory, finance_user


class CostCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CostCategory
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    parent = None
    dimension = ""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        existing = model_class.objects.filter(slug=kwargs["slug"]).first()
        return existing or services.category_create(**kwargs)


class ExchangeRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExchangeRate
        django_get_or_create = ["currency", "date"]

    currency = "EUR"
    date = date(2020, 1, 1)
    rate = Decimal("1.100000")


def category(slug: str) -> CostCategory:
    """A default category by slug (recreated flat if a transactional test flushed them)."""
    return CostCategoryFactory(slug=slug, name=slug.replace("_", " ").title())


def make_cost(
    *,
    status: str = Cost.Status.PENDING,
    submitted_by=None,
    decider=None,
    amount: Decimal | str = "100.00",
    currency: str = "USD",
    incurred_on: date | None = None,
    organization_unit=None,
    **fields,
) -> Cost:
    """Create a cost through the services and bring it to ``status``.

    Without a unit, resource or entity a fresh unit is made whose member is the submitter.
    The decider for approve/reject defaults to a finance user; void uses finance.
    """
    submitted_by = submitted_by or UserFactory()
    if organization_unit is None and not fields.get("resource") and not fields.get("entity"):
        organization_unit = OrganizationUnitFactory()
        from orgunits import services as org_services

        org_services.membership_set(user=submitted_by, unit=organization_unit, role="member")
    result = services.cost_create(
        submitted_by=submitted_by,
        amount=Decimal(str(amount)),
        currency=currency,
        incurred_on=incurred_on or date(2025, 3, 15),
        organization_unit=organization_unit,
        draft=status == Cost.Status.DRAFT,
        **fields,
    )
    cost = result.cost
    if status in (Cost.Status.DRAFT, Cost.Status.PENDING):
        return cost
    fin = finance_user()
    decider = decider or fin
    if status == Cost.Status.APPROVED:
        return services.cost_approve(cost=cost, acting_user=decider)
    if status == Cost.Status.REJECTED:
        return services.cost_reject(cost=cost, acting_user=decider, comment="no")
    if status == Cost.Status.CANCELLED:
        return services.cost_cancel(cost=cost, acting_user=submitted_by)
    if status == Cost.Status.VOIDED:
        cost = services.cost_approve(cost=cost, acting_user=decider)
        return services.cost_void(cost=cost, acting_user=fin, reason="duplicate")
    raise ValueError(f"Unknown status {status}")


def clone_costs(cost: Cost, count: int, **changes) -> list[Cost]:
    """``count`` copies of ``cost`` written with one ``bulk_create`` (no events, no checks).

    For query-count tests that need many rows fast. ``status`` may be given in ``changes``:
    the protected field can be set when an instance is constructed, never afterwards.
    """
    skip = {"id", "created_at", "updated_at"}
    base = {
        f.attname: getattr(cost, f.attname)
        for f in Cost._meta.concrete_fields
        if f.attname not in skip
    }
    base.update(changes)
    costs = Cost.objects.bulk_create([Cost(**base) for _ in range(count)])
    summary_add(ids=[c.pk for c in costs])  # direct rows still count in the spend summary
    return costs
