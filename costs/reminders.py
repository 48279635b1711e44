"""Pending-approval reminders and escalation (SPEC 2.5).

A cost pending for ``COSTS_REMINDER_AFTER_DAYS`` (default 3) reminds the users who may decide
it; pending for ``COSTS_ESCALATE_AFTER_DAYS`` (default 7) it is escalated to the next owner up
the unit tree above its approver (finance when nobody is left). Each stage is sent once per
cost and submission: ``notifications.services.notify_once`` records a key per stage.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from costtrack.core.roles import FINANCE
from notifications.kinds import Kind
from notifications.services import notify_once
from orgunits.selectors import unit_ancestors

from .models import Cost
from .services.notify import approval_recipients

logger = logging.getLogger(__name__)

DEFAULT_REMINDER_AFTER_DAYS = 3
DEFAULT_ESCALATE_AFTER_DAYS = 7


def _days(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def escalation_recipients(cost: Cost) -> list:
    """The next owner up the unit tree above the cost's approver; finance if there is none.

    Unit owners are walked from the cost's unit to the root; when the approver owns one of
    those units the walk starts above it. The submitter and inactive users are skipped.
    """
    owners = [
        unit.owner
        for unit in unit_ancestors(cost.organization_unit, include_self=True).select_related(
            "owner"
        )
        if unit.owner_id
    ]
    owner_ids = [owner.pk for owner in owners]
    if cost.approver_id in owner_ids:
        owners = owners[owner_ids.index(cost.approver_id) + 1 :]
    skip = {cost.submitted_by_id, cost.approver_id}
    for owner in owners:
        if owner.pk not in skip and owner.is_active:
            return [owner]
    User = get_user_model()
    return list(
        User.objects.filter(groups__name=FINANCE, is_active=True)
        .exclude(pk__in=[pk for pk in skip if pk])
        .order_by("pk")
    )


def _describe(cost: Cost, *, days: int) -> tuple[str, str]:
    desc = cost.description or f"{cost.amount} {cost.currency} on {cost.incurred_on}"
    lines = [
        f"Cost #{cost.pk}: {cost.amount} {cost.currency}, submitted by "
        f"{cost.submitted_by.get_full_name() or cost.submitted_by.username}, "
        f"has waited {days} day{'s' if days != 1 else ''} for a decision.",
        f"Unit {cost.organization_unit}, incurred on {cost.incurred_on}.",
    ]
    return desc, "\n".join(lines)


def _stage_key(stage: str, cost: Cost) -> str:
    # A cost resubmitted after a rejection waits anew: its submission time is part of the key.
    return f"costs.{stage}:{cost.pk}:{int(cost.submitted_at.timestamp())}"


@transaction.atomic
def cost_remind(*, cost: Cost, now=None) -> dict[str, int]:
    """Send the reminder and/or escalation ``cost`` is due for (each at most once).

    Returns ``{"reminded": n, "escalated": n}``: notifications written per stage."""
    now = now or timezone.now()
    waited = now - cost.submitted_at
    days = waited.days
    sent = {"reminded": 0, "escalated": 0}
    desc, body = _describe(cost, days=days)
    payload = {"cost_id": cost.pk, "approver_id": cost.approver_id, "days_pending": days}
    link = f"/costs/{cost.pk}/"
    if waited >= timedelta(days=_days("COSTS_REMINDER_AFTER_DAYS", DEFAULT_REMINDER_AFTER_DAYS)):
        rows = notify_once(
            key=_stage_key("pending_reminder", cost),
            recipients=approval_recipients(cost),
            kind=Kind.PENDING_REMINDER,
            subject=f"Reminder: a cost waits for your approval: {desc}"[:200],
            body=body,
            link=link,
            payload=payload,
        )
        sent["reminded"] = len(rows or [])
    if waited >= timedelta(days=_days("COSTS_ESCALATE_AFTER_DAYS", DEFAULT_ESCALATE_AFTER_DAYS)):
        approver = cost.approver
        who = (approver.get_full_name() or approver.username) if approver else "finance"
        rows = notify_once(
            key=_stage_key("pending_escalation", cost),
            recipients=escalation_recipients(cost),
            kind=Kind.PENDING_ESCALATION,
            subject=f"Escalated: a cost pending with {who} for {days} days: {desc}"[:200],
            body=body + f"\nIts approver is {who}; you are the next owner up.",
            link=link,
            payload=payload,
        )
        sent["escalated"] = len(rows or [])
    return sent


def send_pending_reminders(*, now=None) -> dict[str, int]:
    """Remind and escalate every pending cost that is due (one transaction per cost, so one
    failing cost does not hold back the others). Returns totals per stage."""
    now = now or timezone.now()
    due = now - timedelta(days=_days("COSTS_REMINDER_AFTER_DAYS", DEFAULT_REMINDER_AFTER_DAYS))
    costs = (
        Cost.objects.filter(status=Cost.Status.PENDING, submitted_at__lte=due)
        .select_related("submitted_by", "approver", "organization_unit")
        .order_by("submitted_at", "pk")
    )
    totals = {"reminded": 0, "escalated": 0}
    for cost in list(costs):
        try:
            sent = cost_remind(cost=cost, now=now)
        except Exception:
            logger.exception("Pending reminder for cost %s failed; retried next run.", cost.pk)
            continue
        for stage, count in sent.items():
            totals[stage] += count
    return totals
