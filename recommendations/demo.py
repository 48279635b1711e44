"""Demo step for ``costtrack demo``: the data that makes each kind of recommendation appear,
then one computation (which also sends the owners their digest).

- a spike: a resource costing about 120.00 a day for four weeks, then 960.00 today;
- unallocated cost: a shared VPN node linked to a resource with approved cost last month and
  no outgoing edge (the last two months' allocations are run again to see it);
- untagged spend: a mapping rule that places rows by their ``team`` tag and a small billing
  import (PostgreSQL only: imports use COPY) in which half the cost carries no ``team`` tag.

Idle resources and budgets forecast to overrun come from the other steps' data already.
Deterministic and idempotent: every row is looked up by a natural key before it is created.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from allocation import services as allocation_services
from allocation.models import CostNode
from costs import services as cost_services
from costs.imports import rules as import_rules
from costs.imports import services as import_services
from costs.models import Cost, CostCategory, ImportBatch, MappingRule
from costtrack.core.roles import FINANCE
from orgunits.models import OrganizationUnit, Resource

from .services import recommendations_compute

SPIKE_BASE = Decimal("120.00")
SPIKE_DAY = Decimal("960.00")
VPN_NODE = "legacy-vpn (no consumers)"
TAG_RULE = "Demo: place rows by their team tag"
DEMO_ACCOUNT = "999900001111"

FOCUS_HEADER = (
    "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,"
    "BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargeFrequency,"
    "ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,"
    "PricingQuantity,PricingUnit,ProviderName,PublisherName,RegionId,RegionName,ResourceId,"
    "ResourceName,ResourceType,ServiceCategory,ServiceName,SubAccountId,SubAccountName,Tags,"
    "x_UsageType,x_Operation"
)


def _finance_user():
    User = get_user_model()
    return (
        User.objects.filter(groups__name=FINANCE, is_active=True).order_by("pk").first()
        or User.objects.filter(is_superuser=True).order_by("pk").first()
    )


def _team_unit() -> OrganizationUnit:
    return (
        OrganizationUnit.objects.filter(active=True, level__gt=0, owner__isnull=False)
        .order_by("-level", "tree_id", "lft")
        .first()
    ) or OrganizationUnit.objects.order_by("tree_id", "lft").first()


def _seed_spike(finance, today: date) -> int:
    # An existing resource (the organisation's last): a new one would change the resources
    # the costs step samples on a second run.
    resource = Resource.objects.order_by("-pk").first()
    category = CostCategory.objects.filter(slug="compute").first()
    created = 0
    for back in range(28, -1, -1):
        day = today - timedelta(days=back)
        # a small weekly rhythm, so the baseline has a spread (MAD > 0)
        amount = SPIKE_DAY if back == 0 else SPIKE_BASE + Decimal(day.weekday() % 3) * 5
        result = cost_services.cost_create(
            submitted_by=finance,
            amount=amount,
            currency="USD",
            incurred_on=day,
            category=category,
            description=f"{resource.name} nightly jobs",
            resource=resource,
            source=Cost.Source.API,
            idempotency_key=f"demo-recommendation-spike-{day.isoformat()}",
            override_reason="Demo data",
        )
        created += int(result.created)
    return created


def _seed_unallocated(today: date) -> str:
    first_this_month = today.replace(day=1)
    last = first_this_month - timedelta(days=1)
    first = last.replace(day=1)
    node = CostNode.objects.filter(name=VPN_NODE).first()
    if node is None:
        linked = CostNode.objects.filter(resource__isnull=False).values("resource_id")
        candidate = (
            Cost.objects.filter(
                status=Cost.Status.APPROVED,
                incurred_on__range=(first, last),
                resource__isnull=False,
            )
            .exclude(resource_id__in=linked)
            .values("resource_id")
            .annotate(total=Sum("amount_reporting"))
            .filter(total__gt=0)
            .order_by("total", "resource_id")
            .first()
        )
        if candidate is None:
            return "no unlinked resource with approved cost last month"
        node = allocation_services.node_create(
            name=VPN_NODE,
            kind=CostNode.Kind.SHARED_SERVICE,
            resource=Resource.objects.get(pk=candidate["resource_id"]),
            description="Demo: a shared service whose cost reaches no product.",
        )
    # both months the allocation step runs: a new node changes every period's inputs, and a
    # second demo then finds runs of exactly its inputs
    previous_last = first - timedelta(days=1)
    allocation_services.allocation_run(
        period_start=previous_last.replace(day=1), period_end=previous_last
    )
    run = allocation_services.allocation_run(period_start=first, period_end=last)
    return f"run #{run.pk} {run.status}, coverage {run.coverage}"


def _focus_csv(today: date) -> bytes:
    last = today.replace(day=1) - timedelta(days=1)
    first = last.replace(day=1)
    end = today.replace(day=1)
    lines = [FOCUS_HEADER]
    rows = [
        ("410.00", '{""team"": ""platform""}', "vpc-demo-1", "Amazon Virtual Private Cloud"),
        ("260.00", "{}", "nat-demo-2", "Amazon Virtual Private Cloud"),
        ("150.00", '{""env"": ""prod""}', "bucket-demo-3", "Amazon Simple Storage Service"),
    ]
    # no resource ids: the import would create resources, which the costs step samples
    for i, (cost, tags, _res, service) in enumerate(rows):
        day = first + timedelta(days=i)
        lines.append(
            f"{cost},{DEMO_ACCOUNT},Demo Payer,USD,{end}T00:00:00Z,{first}T00:00:00Z,Usage,,"
            f"Demo usage,Usage-Based,{day + timedelta(days=1)}T00:00:00Z,{day}T00:00:00Z,"
            f"{cost},{cost},AWS,{cost},1,Hours,AWS,AWS,eu-west-1,eu-west-1,"
            f",,Other,Networking,{service},"
            f'{DEMO_ACCOUNT},demo-payer,"{tags}",Usage,Run'
        )
    return ("\n".join(lines) + "\n").encode()


def _seed_untagged(finance, today: date) -> str:
    unit = _team_unit()
    if not MappingRule.objects.filter(name=TAG_RULE).exists():
        import_rules.mapping_rule_create(
            acting_user=finance,
            name=TAG_RULE,
            priority=50,
            match_tag_key="team",
            organization_unit=unit,
        )
    if connection.vendor != "postgresql":
        return "import skipped (billing imports need PostgreSQL)"
    period_start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    done = ImportBatch.objects.filter(
        billing_account_id=DEMO_ACCOUNT,
        billing_period_start=period_start,
        status=ImportBatch.Status.SUCCEEDED,
    ).first()
    if done is not None:
        return f"import #{done.pk} already in place"
    batch = import_services.import_file(
        source=io.BytesIO(_focus_csv(today)),
        file_name="demo-untagged.csv",
        acting_user=finance,
        unit=unit,
        override_reason="Demo data",
    )
    return f"import #{batch.pk} {batch.status}"


def seed_recommendations(*, stdout=None, context: dict | None = None) -> dict:
    """Add the data behind each kind of recommendation and compute them. Returns
    ``{"recommendations": {kind: count}}``."""
    finance = _finance_user()
    today = timezone.localdate()
    spiked = _seed_spike(finance, today)
    # the import first: its costs are last month's, which the allocation run then includes
    # (so that a second demo finds the run's inputs unchanged)
    untagged = _seed_untagged(finance, today)
    unallocated = _seed_unallocated(today)
    result = recommendations_compute()
    if stdout is not None:
        stdout.write(f"  spike series: {spiked} new costs; unallocated: {unallocated}; {untagged}")
        stdout.write(
            "  recommendations: "
            + ", ".join(f"{kind} {n}" for kind, n in result.found.items())
            + f"; digests to {result.notified_users} users"
        )
    return {"recommendations": result.found}
