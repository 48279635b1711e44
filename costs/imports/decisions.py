"""Deciding an approver's share of an import in one go (the inbox's batch decision)."""

import json

from django.db import transaction
from django.db.models import Min, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from costtrack.core.exceptions import ApplicationError, Conflict, PermissionDenied, ValidationError
from costtrack.core.roles import is_finance, refuse_read_only
from orgunits.selectors import active_delegate_ids

from .. import extensions
from ..models import Cost, CostEvent, ImportBatch
from ..summary.maintain import summary_moving
from . import notices
from .checks import check_budgets, guard_days


def _may_decide_for(*, acting_user, approver) -> bool:
    if is_finance(acting_user):
        return True
    if approver is None:
        return False
    if acting_user.pk == approver.pk:
        return True
    return acting_user.pk in active_delegate_ids(delegator_ids=[approver.pk])


def import_batch_decide(
    *,
    batch: ImportBatch,
    approver,
    decision: str,
    comment: str = "",
    acting_user,
    override_reason: str = "",
) -> int:
    """Approve or reject, in one decision, every pending cost of ``batch`` routed to
    ``approver`` (``None``: the costs finance decides). Returns how many were decided.

    Allowed to the approver, their active delegates and finance, never to the user who
    imported the file (``PermissionDenied``). An approval passes the approval checks like
    a single cost's (a ``block`` budget that counts only approved spend refuses it with
    403, unless finance overrides with a reason, recorded per cost). Each cost gets its
    ``approve``/``reject`` event; the decision hooks (budgets) run per cost; the submitter
    gets one notification. A rejection needs a comment. Nothing pending: ``Conflict``.
    """
    try:
        return _decide_batch(
            batch=batch,
            approver=approver,
            decision=decision,
            comment=comment,
            acting_user=acting_user,
            override_reason=override_reason.strip(),
        )
    except ApplicationError as exc:
        extensions.report_refusal(exc)  # the refused transaction has rolled back
        raise


@transaction.atomic
def _decide_batch(
    *, batch: ImportBatch, approver, decision: str, comment: str, acting_user, override_reason
) -> int:
    refuse_read_only(acting_user)
    if override_reason and not is_finance(acting_user):
        raise PermissionDenied(
            "Only finance staff may override a budget block.", code="override_not_allowed"
        )
    if decision not in ("approve", "reject"):
        raise ValidationError("The decision is 'approve' or 'reject'.", field="decision")
    if decision == "reject" and not comment.strip():
        raise ValidationError("Say why you reject the costs.", field="comment")
    if acting_user.pk == batch.created_by_id:
        raise PermissionDenied(
            "You cannot decide costs you imported.", code="self_approval_forbidden"
        )
    if not _may_decide_for(acting_user=acting_user, approver=approver):
        raise PermissionDenied("You are not the approver of these costs.")
    qs = Cost.objects.select_for_update().filter(
        import_link__batch=batch, status=Cost.Status.PENDING
    )
    qs = qs.filter(approver=approver) if approver is not None else qs.filter(approver__isnull=True)
    ids = list(qs.order_by("pk").values_list("pk", flat=True))
    if not ids:
        raise Conflict("No costs of this import wait for that approver's decision.")
    guard_days(Cost.objects.filter(pk__in=ids).values_list("incurred_on", flat=True).distinct())
    now = timezone.now()
    target = Cost.Status.APPROVED if decision == "approve" else Cost.Status.REJECTED
    warnings: list = []
    if decision == "approve":
        # judged while the costs are still pending: they are added once, as one booking
        warnings = check_budgets(
            batch=batch,
            groups=_approval_groups(ids),
            acting_user=acting_user,
            override_reason=override_reason,
            approval=True,
        )
    with summary_moving(ids=ids):
        Cost.objects.filter(pk__in=ids).update(
            status=target,
            decided_by=acting_user,
            decided_at=now,
            decision_comment=comment,
            updated_at=now,
        )
    if override_reason and any(w.get("overridden") for w in warnings):
        _record_overrides(
            ids, acting_user=acting_user, at=now, reason=override_reason, warnings=warnings
        )
    CostEvent.objects.bulk_create(
        [
            CostEvent(
                cost_id=pk,
                action=decision,
                from_status=Cost.Status.PENDING,
                to_status=target,
                actor=acting_user,
                at=now,
                comment=comment or f"Decided with import #{batch.pk} as one batch",
                changes={"import": batch.pk},
            )
            for pk in ids
        ],
        batch_size=2000,
    )
    hooks = extensions.decision_hooks()
    if hooks:
        for cost in Cost.objects.filter(pk__in=ids).select_related("organization_unit", "category"):
            for hook in hooks:
                hook(cost=cost, acting_user=acting_user)
    from notifications.kinds import Kind

    notices.notify(
        recipients=[batch.created_by],
        kind=Kind.COST_APPROVED if decision == "approve" else Kind.COST_REJECTED,
        subject=f"{len(ids)} imported costs {'approved' if decision == 'approve' else 'rejected'}"
        f" (import #{batch.pk})",
        body=comment,
        link=f"/api/v1/imports/{batch.pk}/",
        payload={"import": batch.pk, "costs": len(ids), "decision": decision},
    )
    return len(ids)


def _approval_groups(ids: list[int]) -> list[dict]:
    """The charges of the costs ``ids`` per unit, category, currency, tags and month."""
    rows = (
        Cost.objects.filter(pk__in=ids, kind=Cost.Kind.CHARGE)
        .annotate(month=TruncMonth("incurred_on"))
        .values("organization_unit_id", "category_id", "currency", "tags", "month")
        .annotate(
            incurred_on=Min("incurred_on"),
            amount=Sum("amount"),
            amount_reporting=Sum("amount_reporting"),
        )
        .order_by("organization_unit_id", "category_id", "currency", "month")
    )
    return list(rows)


def _record_overrides(ids: list[int], *, acting_user, at, reason: str, warnings) -> None:
    changes = {"warnings": json.loads(json.dumps(warnings, default=str))}
    CostEvent.objects.bulk_create(
        [
            CostEvent(
                cost_id=pk,
                action=CostEvent.Action.OVERRIDE,
                from_status=Cost.Status.APPROVED,
                to_status=Cost.Status.APPROVED,
                actor=acting_user,
                at=at,
                comment=reason,
                changes=changes,
            )
            for pk in ids
        ],
        batch_size=2000,
    )
