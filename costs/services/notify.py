"""Notifications a cost's transitions queue (SPEC 2.5), through ``notifications.services``.

The rows are written in the caller's transaction; the notifications app delivers them after
commit. Recipients: approval requested → the approver, their active delegates and approver
members of the unit (finance when nobody is left); approved / rejected → the submitter.
"""

# ruff: noqa: S608 -- table names from model metadata; every value is a bound parameter.

import importlib
import importlib.util

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from costtrack.core.roles import FINANCE
from orgunits.models import Delegation, Membership, OrganizationUnit

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


def _recipients_sql() -> str:
    user = get_user_model()
    return (
        f"SELECT u.* FROM {user._meta.db_table} u WHERE u.is_active AND u.id <> %s AND ("  # nosec B608
        f"u.id IN (SELECT m.user_id FROM {Membership._meta.db_table} m "
        f"JOIN {OrganizationUnit._meta.db_table} o ON o.id = m.unit_id "
        "WHERE m.role = %s AND o.tree_id = %s AND o.lft <= %s AND o.rght >= %s) "
        "OR u.id = %s "
        f"OR u.id IN (SELECT d.delegate_id FROM {Delegation._meta.db_table} d "
        "WHERE d.delegator_id = %s AND d.start_date <= %s AND d.end_date >= %s) "
        f"OR (%s AND u.id IN (SELECT g.user_id FROM {user.groups.through._meta.db_table} g "
        f"JOIN {Group._meta.db_table} n ON n.id = g.group_id WHERE n.name = %s))"
        ") ORDER BY u.id"
    )


def approval_recipients(cost: Cost) -> list:
    """Users to tell that ``cost`` waits for a decision (never its submitter): the resolved
    approver, their active delegates, approver members of the unit or an ancestor (the
    deciders of ``costs.approvers.decider_ids``) and, when nobody is resolved, finance.

    One hand-written query: it runs inside every submission, where building it with the ORM
    cost more than running it."""
    unit = cost.organization_unit
    today = timezone.localdate()
    params = [
        cost.submitted_by_id,
        Membership.Role.APPROVER.value,
        unit.tree_id,
        unit.lft,
        unit.rght,
        cost.approver_id,
        cost.approver_id,
        today,
        today,
        cost.approver_id is None,
        FINANCE,
    ]
    return list(get_user_model().objects.raw(_recipients_sql(), params))


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
