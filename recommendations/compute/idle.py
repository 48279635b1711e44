"""Idle or orphaned resources: resources with cost over the last ``IDLE_DAYS`` days and no
usage in the allocation (no node, or a node without usage records in those days), or with
neither an owner nor a unit owner. Costs come from the day detail summary (one grouped
query); resources, nodes and usage take one query each."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Sum

from allocation.models import CostNode, UsageRecord
from costs.models import SpendDayDetail
from costs.summary.grains import SPENDING
from orgunits.models import Resource

from .common import Candidate, cents, money

KIND = "idle_resource"
NOT_IN_ALLOCATION = "not_in_allocation"
NO_USAGE = "no_usage"
NO_OWNER = "no_owner"


def idle_days() -> int:
    return int(getattr(settings, "COSTTRACK_RECOMMENDATION_IDLE_DAYS", 30))


def idle_resource_candidates(*, now: datetime, day: date, **_) -> list[Candidate]:
    first = day - timedelta(days=idle_days() - 1)
    spend = dict(
        SpendDayDetail.objects.filter(
            day__range=(first, day), resource_key__gt=0, entries__gt=0, status__in=SPENDING
        )
        .values("resource_key")
        .annotate(total=Sum("amount_reporting"))
        .filter(total__gt=0)
        .values_list("resource_key", "total")
    )
    if not spend:
        return []
    resources = Resource.objects.filter(pk__in=list(spend)).values(
        "id",
        "name",
        "provider",
        "service",
        "owner_id",
        "organization_unit_id",
        "organization_unit__owner_id",
    )
    nodes = dict(
        CostNode.objects.filter(resource_id__in=list(spend)).values_list("resource_id", "id")
    )
    used = set(
        UsageRecord.objects.filter(
            date__range=(first, day), node_id__in=list(nodes.values()), quantity__gt=0
        )
        .values_list("node_id", flat=True)
        .distinct()
    )
    found = []
    for res in resources:
        node_id = nodes.get(res["id"])
        reasons = []
        if node_id is None:
            reasons.append(NOT_IN_ALLOCATION)
        elif node_id not in used:
            reasons.append(NO_USAGE)
        if res["owner_id"] is None and res["organization_unit__owner_id"] is None:
            reasons.append(NO_OWNER)
        if not reasons:
            continue
        amount = cents(spend[res["id"]])
        what = "has no owner" if reasons == [NO_OWNER] else "costs money and shows no usage"
        if len(reasons) == 2:
            what = "costs money, shows no usage and has no owner"
        found.append(
            Candidate(
                kind=KIND,
                key=f"{KIND}:resource:{res['id']}",
                title=f"{res['name']} {what}",
                unit_id=res["organization_unit_id"],
                amount=amount,
                link=f"/resources/{res['id']}/",
                evidence={
                    "resource": res["id"],
                    "provider": res["provider"],
                    "service": res["service"],
                    "window_start": first.isoformat(),
                    "window_end": day.isoformat(),
                    "cost": money(amount),
                    "node": node_id,
                    "has_usage": node_id in used,
                    "reasons": reasons,
                },
            )
        )
    return found
