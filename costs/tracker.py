"""The Python API of seed 001: ``CostTracker`` over the costs services and selectors.

    from costs.tracker import CostTracker

    tracker = CostTracker(user=alice)
    cost = tracker.record(Decimal("12.50"), category="llm_inference",
                          resource_id="arn:aws:bedrock:…", tags={"team": "search"})
    tracker.get_summary(period="monthly")    # approved spend this month
    tracker.get_total(category="compute")    # with subcategories

Recording goes through ``costs.services.cost_create`` (a pending cost routed for approval,
with every rule and audit event); summaries count approved costs in the reporting currency.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from costtrack.core.exceptions import ValidationError
from orgunits.models import Entity, OrganizationUnit, Resource

from . import selectors, services
from .models import Cost, CostCategory


class CostTracker:
    """Record costs as ``user`` and read summaries of what ``user`` may see.

    A cost recorded without a resource, entity or unit goes to ``organization_unit``, else
    to the user's home unit (their first membership in tree order). ``see_all=True`` (for
    scripts run by finance or the system) summarises every cost.
    """

    def __init__(
        self,
        user,
        *,
        organization_unit: OrganizationUnit | None = None,
        see_all: bool = False,
    ) -> None:
        self.user = user
        self.organization_unit = organization_unit
        self.see_all = see_all

    def home_unit(self) -> OrganizationUnit | None:
        if self.organization_unit is None:
            self.organization_unit = (
                OrganizationUnit.objects.filter(memberships__user=self.user)
                .order_by("tree_id", "lft")
                .first()
            )
        return self.organization_unit

    def record(
        self,
        amount: Decimal | str | int,
        category: CostCategory | str | None = None,
        description: str = "",
        resource_id: str | int | None = None,
        tags: dict[str, str] | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        currency: str | None = None,
        incurred_on: date | None = None,
        entity: Entity | None = None,
        organization_unit: OrganizationUnit | None = None,
        draft: bool = False,
    ) -> Cost:
        """Record a cost (pending approval unless ``draft``). ``resource_id`` is the
        provider's id (ARN …) or the resource's primary key; ``category`` a slug or object."""
        if isinstance(category, str):
            found = CostCategory.objects.filter(slug=category).first()
            if found is None:
                raise ValidationError(f"Unknown category '{category}'.", field="category")
            category = found
        resource = None
        if resource_id not in (None, ""):
            resource = Resource.objects.filter(provider_resource_id=str(resource_id)).first()
            if resource is None and str(resource_id).isdigit():
                resource = Resource.objects.filter(pk=int(resource_id)).first()
            if resource is None:
                raise ValidationError(f"Unknown resource '{resource_id}'.", field="resource")
        if resource is None and entity is None and organization_unit is None:
            organization_unit = self.home_unit()
        return services.cost_record(
            user=self.user,
            amount=Decimal(str(amount)),
            currency=currency,
            category=category,
            description=description,
            resource=resource,
            entity=entity,
            organization_unit=organization_unit,
            tags=tags or {},
            metadata=metadata or {},
            draft=draft,
            **({"incurred_on": incurred_on} if incurred_on else {}),
        )

    def get_summary(
        self,
        period: str | None = None,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
    ) -> dict[str, Any]:
        return selectors.cost_summary(
            period=period, start=start, end=end, user=None if self.see_all else self.user
        )

    def get_total(
        self, period: str | None = None, category: CostCategory | str | None = None
    ) -> Decimal:
        return selectors.cost_total(
            period=period, category=category, user=None if self.see_all else self.user
        )
