"""Untagged spend: imported costs of each billing account's latest billing period that carry
none of the tag keys the active mapping rules match on (rules cannot place them by tag).

One query for the rules' keys, one for the active imports, one grouped aggregate over their
costs (through the import links).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, Sum

from costs.models import ImportBatch, ImportedCost, MappingRule
from costs.summary.grains import SPENDING

from .common import ZERO, Candidate, cents, money

KIND = "untagged_spend"


def rule_tag_keys() -> list[str]:
    return sorted(
        set(
            MappingRule.objects.filter(active=True)
            .exclude(match_tag_key="")
            .values_list("match_tag_key", flat=True)
        )
    )


def _latest_batches() -> dict[int, ImportBatch]:
    """The active import of each billing account's latest period, by id."""
    latest: dict[str, ImportBatch] = {}
    batches = ImportBatch.objects.filter(
        status=ImportBatch.Status.SUCCEEDED,
        duplicate_of__isnull=True,
        superseded_at__isnull=True,
    ).only(
        "id",
        "billing_account_id",
        "billing_account_name",
        "billing_period_start",
        "billing_period_end",
        "provider",
        "default_unit_id",
    )
    for batch in batches:
        held = latest.get(batch.billing_account_id)
        if held is None or (batch.billing_period_start, batch.pk) > (
            held.billing_period_start,
            held.pk,
        ):
            latest[batch.billing_account_id] = batch
    return {b.pk: b for b in latest.values()}


def untagged_candidates(*, now: datetime, **_) -> list[Candidate]:
    keys = rule_tag_keys()
    if not keys:
        return []
    batches = _latest_batches()
    if not batches:
        return []
    untagged = ~Q(cost__tags__has_any_keys=keys)
    rows = (
        ImportedCost.objects.filter(
            batch_id__in=list(batches),
            role=ImportedCost.Role.CHARGE,
            cost__status__in=SPENDING,
        )
        .values("batch_id")
        .annotate(
            total=Sum("cost__amount_reporting"),
            untagged=Sum("cost__amount_reporting", filter=untagged),
            untagged_costs=Count("cost_id", filter=untagged),
            costs=Count("cost_id"),
        )
    )
    found = []
    for row in rows:
        amount = row["untagged"] or ZERO
        if amount <= 0:
            continue
        batch = batches[row["batch_id"]]
        total = row["total"] or ZERO
        share = (amount / total * 100).quantize(cents(ZERO)) if total else ZERO
        account = batch.billing_account_name or batch.billing_account_id
        found.append(
            Candidate(
                kind=KIND,
                key=f"{KIND}:account:{batch.billing_account_id}"[:255],
                title=f"Billing account {account}: {money(amount)} of imported cost "
                f"({share} %) carries none of the tags {', '.join(keys)}",
                unit_id=batch.default_unit_id,
                amount=cents(amount),
                link="/admin/costs/mappingrule/",
                evidence={
                    "billing_account": batch.billing_account_id,
                    "billing_account_name": batch.billing_account_name,
                    "provider": batch.provider,
                    "import": batch.pk,
                    "period_start": batch.billing_period_start.isoformat()
                    if batch.billing_period_start
                    else None,
                    "period_end": batch.billing_period_end.isoformat()
                    if batch.billing_period_end
                    else None,
                    "tag_keys": keys,
                    "untagged_costs": row["untagged_costs"],
                    "costs": row["costs"],
                    "untagged": money(amount),
                    "imported": money(total),
                    "untagged_pct": str(share),
                },
            )
        )
    found.sort(key=lambda c: (-c.amount, c.key))
    return found
