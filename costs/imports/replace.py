"""Replacing the earlier import of a scope (provider, billing account and period) by a
corrected file's."""

from collections import defaultdict

from django.db.models import F
from django.utils import timezone

from ..models import Cost, CostEvent, ImportBatch, ImportedCost, ImportScope
from ..summary.maintain import summary_add, summary_moving
from .corrections import correction_target_day


def replace_scopes(*, replaced: dict[int, ImportScope], batch: ImportBatch) -> dict[int, int]:
    """Undo the costs of the replaced scopes (``{earlier scope id: the new scope}``) for the
    file ``batch``; return how many costs each earlier scope had undone.

    Approved costs get a reversing cost (the negated amount, approved, kind credit for a
    charge) and an ``edit`` event "reversed by import N"; pending and rejected ones are
    cancelled with a ``cancel`` event. Voided and cancelled costs no longer count and stay.
    The batches of the replaced scopes are no longer wholly current (``superseded_at``).
    One statement per kind of write whatever the number of scopes.
    """
    if not replaced:
        return {}
    now = timezone.now()
    previous_scopes = list(ImportScope.objects.filter(pk__in=replaced).select_related("batch"))
    previous_batches = {s.batch_id: s.batch for s in previous_scopes}
    ImportBatch.objects.filter(pk__in=previous_batches, superseded_at__isnull=True).update(
        superseded_at=now
    )
    counts: dict[int, int] = defaultdict(int)
    notes = {
        s.pk: f"Reversed by import #{batch.pk} ({batch.file_name}), which replaces import "
        f"#{s.batch_id} for {s.provider} {s.billing_account_id} {s.billing_period_start}"
        for s in previous_scopes
    }
    links = ImportedCost.objects.filter(scope_id__in=replaced, role=ImportedCost.Role.CHARGE)
    pending = list(
        Cost.objects.select_for_update()
        .filter(import_link__in=links, status__in=[Cost.Status.PENDING, Cost.Status.REJECTED])
        .values_list("pk", "status", "import_link__scope_id")
    )
    if pending:
        with summary_moving(ids=[pk for pk, _, _ in pending]):
            Cost.objects.filter(pk__in=[pk for pk, _, _ in pending]).update(
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
                    comment=notes[scope_id],
                )
                for pk, status, scope_id in pending
            ],
            batch_size=2000,
        )
        for _, _, scope_id in pending:
            counts[scope_id] += 1
    approved = list(
        Cost.objects.select_for_update()
        .filter(import_link__in=links, status=Cost.Status.APPROVED)
        .annotate(link_scope_id=F("import_link__scope_id"))
        .order_by("pk")
    )
    previous_of = {s.pk: s.batch_id for s in previous_scopes}
    # A reversal of a cost of a closed period is a correction in the first open period.
    targets: dict = {}
    reversals = []
    for cost in approved:
        if cost.incurred_on not in targets:
            targets[cost.incurred_on] = correction_target_day(
                day=cost.incurred_on, acting_user=batch.created_by
            )
        day, corrects = targets[cost.incurred_on]
        moved = corrects is not None
        reversal = Cost(
            amount=-cost.amount,
            currency=cost.currency,
            amount_reporting=-cost.amount_reporting,
            exchange_rate=cost.exchange_rate,
            incurred_on=day,
            period_start=day if moved else cost.period_start,
            period_end=day if moved else cost.period_end,
            category_id=cost.category_id,
            description=f"Reversal of cost #{cost.pk}: {cost.description}"[:500],
            resource_id=cost.resource_id,
            entity_id=cost.entity_id,
            organization_unit_id=cost.organization_unit_id,
            metadata={
                "reverses": cost.pk,
                "import": batch.pk,
                "replaced_import": previous_of[cost.link_scope_id],
            },
            tags=cost.tags,
            source=Cost.Source.IMPORT,
            kind=Cost.Kind.CHARGE if cost.amount < 0 else Cost.Kind.CREDIT,
            submitted_by_id=batch.created_by_id,
            submitted_at=now,
            approver_id=cost.approver_id,
            decided_at=now,
            decision_comment=notes[cost.link_scope_id],
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
                comment=f"Reverses cost #{cost.pk} of import #{previous_of[cost.link_scope_id]};"
                f" {notes[cost.link_scope_id]}",
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
                comment=f"{notes[cost.link_scope_id]}: reversing cost #{reversal.pk}",
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
                scope_id=replaced[cost.link_scope_id].pk,
                corrects_period_id=targets[cost.incurred_on][1],
                charged_on=cost.incurred_on if targets[cost.incurred_on][1] else None,
            )
            for cost, reversal in zip(approved, reversals, strict=True)
        ],
        batch_size=2000,
    )
    for cost in approved:
        counts[cost.link_scope_id] += 1
    return dict(counts)
