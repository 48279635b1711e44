"""Notifications a cost's transitions queue (SPEC 2.5), through ``notifications.services``.

The rows are written in the caller's transaction; the notifications app delivers them after
commit. Recipients: approval requested → the approver, their active delegates and approver
members of the unit (finance when nobody is left); approved / rejected → the submitter.
"""

import importlib
import importlib.util

from django.contrib.auth import get_user_model

from costtrack.core.roles import FINANCE

from ..approvers import decider_ids
from ..models import Cost

SUBJECTS = {
    "approval_requested": "Approval requested: {desc}",
    "cost_approved": "Your cost was approved: {desc}",
    "cost_rejected": "Your cost was rejected: {desc}",
}


def _notify_function():
    if importlib.util.find_spec("notifications.services") is None:
        return None
    module = importlib.import_module("notifications.services")
    return getattr(module, "notify", None)


def approval_recipients(cost: Cost) -> list:
    """Users to tell that ``cost`` waits for a decision (never its submitter)."""
    User = get_user_model()
    ids = decider_ids(cost)
    if cost.approver_id is None:
        ids |= set(
            User.objects.filter(groups__name=FINANCE, is_active=True).values_list("pk", flat=True)
        )
    ids.discard(cost.submitted_by_id)
    return list(User.objects.filter(pk__in=ids, is_active=True).order_by("pk"))


def cost_notify(*, cost: Cost, kind: str, actor) -> None:
    notify = _notify_function()
    if notify is None:
        return
    if kind == "approval_requested":
        recipients = approval_recipients(cost)
        recipients = [u for u in recipients if actor is None or u.pk != actor.pk]
    else:
        recipients = [cost.submitted_by]
    if not recipients:
        return
    desc = cost.description or f"{cost.amount} {cost.currency} on {cost.incurred_on}"
    lines = [
        f"Cost #{cost.pk}: {cost.amount} {cost.currency} ({cost.amount_reporting} reporting)",
        f"Incurred on {cost.incurred_on}, unit {cost.organization_unit}.",
    ]
    if cost.description:
        lines.append(cost.description)
    if kind != "approval_requested" and cost.decision_comment:
        lines.append(f"Comment: {cost.decision_comment}")
    notify(
        recipients=recipients,
        kind=kind,
        subject=SUBJECTS[kind].format(desc=desc)[:200],
        body="\n".join(lines),
        link=f"/costs/{cost.pk}/",
        payload={
            "cost_id": cost.pk,
            "status": cost.status,
            "amount": str(cost.amount),
            "currency": cost.currency,
        },
    )
