"""Replacing an earlier import of the same billing account and period by a corrected file."""

from django.utils import timezone

from ..models import Cost, CostEvent, ImportBatch, ImportedCost
from ..summary.maintain import summary_add, summary_moving


def replace_import(*, previous: ImportBatch, batch: ImportBatch) -> int:
    """Undo ``previous``'s costs for the corrected file ``batch``; return how many.

    Approved costs get a reversing cost (the negated amount, approved, kind credit for a
    charge) and an ``edit`` event "reversed by import N"; pending and rejected ones are
    cancelled with a ``cancel`` event. Voided and cancelled costs no longer count and stay.
    """
    now = timezone.now()
    ImportBatch.objects.filter(pk=previous.pk).update(superseded_at=now)
    note = (
        f"Reversed by import #{batch.pk} ({batch.file_name}), which replaces import #{previous.pk}"
    )
    links = ImportedCost.objects.filter(batch=previous, role=ImportedCost.Role.CHARGE)
    pending = list(
        Cost.objects.select_for_update()
        .filter(import_link__in=links, status__in=[Cost.Status.PENDING, Cost.Status.REJECTED])
        .values_list("pk", "status")
    )
    if pending:
        with summary_moving(ids=[pk for pk, _ in pending]):
            Cost.objects.filter(pk__in=[pk for pk, _ in pending]).update(
                status=Cost.Status.CANCELLED, updated_at=now
            )
        CostEvent.objects.bulk_create(
            [
                CostEvent(
                    cost_id=pk,
                    action=CostEvent.Action.CANCEL,
                    from_status=status,
                    to_status=Cost.Status.CANCELLED,
                    actor=batch.created_by,
                    at=now,
                    comment=note,
                )
                for pk, status in pending
            ],
            batch_size=2000,
        )
    approved = list(
        Cost.objects.select_for_update()
        .filter(import_link__in=links, status=Cost.Status.APPROVED)
        .order_by("pk")
    )
    reversals = []
    for cost in approved:
        reversal = Cost(
            amount=-cost.amount,
            currency=cost.currency,
            amount_reporting=-cost.amount_reporting,
            exchange_rate=cost.exchange_rate,
            incurred_on=cost.incurred_on,
            period_start=cost.period_start,
            period_end=cost.period_end,
            category_id=cost.category_id,
            description=f"Reversal of cost #{cost.pk}: {cost.description}"[:500],
            resource_id=cost.resource_id,
            entity_id=cost.entity_id,
            organization_unit_id=cost.organization_unit_id,
            metadata={"reverses": cost.pk, "import": batch.pk, "replaced_import": previous.pk},
            tags=cost.tags,
            source=Cost.Source.IMPORT,
            kind=Cost.Kind.CHARGE if cost.amount < 0 else Cost.Kind.CREDIT,
            submitted_by_id=batch.created_by_id,
            submitted_at=now,
            approver_id=cost.approver_id,
            decided_at=now,
            decision_comment=note,
            status=Cost.Status.APPROVED,  # the reversal mirrors an approved cost
        )
        reversals.append(reversal)
    Cost.objects.bulk_create(reversals, batch_size=2000)
    summary_add(ids=[reversal.pk for reversal in reversals])
    events = []
    for cost, reversal in zip(approved, reversals, strict=True):
        events.append(
            CostEvent(
                cost_id=reversal.pk,
                action=CostEvent.Action.CREATE,
                from_status="",
                to_status=Cost.Status.APPROVED,
                actor=batch.created_by,
                at=now,
                comment=f"Reverses cost #{cost.pk} of import #{previous.pk}; {note}",
                changes={"reverses": cost.pk},
            )
        )
        events.append(
            CostEvent(
                cost_id=cost.pk,
                action=CostEvent.Action.EDIT,
                from_status=cost.status,
                to_status=cost.status,
                actor=batch.created_by,
                at=now,
                comment=f"{note}: reversing cost #{reversal.pk}",
                changes={"reversed_by": reversal.pk, "reversed_by_import": batch.pk},
            )
        )
    CostEvent.objects.bulk_create(events, batch_size=2000)
    ImportedCost.objects.bulk_create(
        [
            ImportedCost(
                cost_id=reversal.pk,
                batch=batch,
                role=ImportedCost.Role.REVERSAL,
                reverses_id=cost.pk,
            )
            for cost, reversal in zip(approved, reversals, strict=True)
        ],
        batch_size=2000,
    )
    return len(pending) + len(approved)
