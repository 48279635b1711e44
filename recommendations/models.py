"""Recommendations and the audit trail of their dismissals.

A recommendation is keyed by what it is about (``key``, e.g. ``spike:unit:12``): every
computation updates the row of its key instead of adding one. ``recommendations.services``
owns every write; the audit rows are never changed once written.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from costtrack.core.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS
from orgunits.models import OrganizationUnit


class Kind(models.TextChoices):
    UNALLOCATED_COST = "unallocated_cost", "Unallocated cost"
    IDLE_RESOURCE = "idle_resource", "Idle or orphaned resource"
    SPIKE = "spike", "Cost spike"
    BUDGET_OVERRUN = "budget_overrun", "Budget forecast to overrun"
    UNTAGGED_SPEND = "untagged_spend", "Untagged spend"


class Status(models.TextChoices):
    OPEN = "open", "Open"
    DISMISSED = "dismissed", "Dismissed"
    RESOLVED = "resolved", "Resolved"


def _money(**kwargs):
    return models.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, **kwargs
    )


class Recommendation(models.Model):
    """Something to fix, with the money at stake in the reporting currency.

    ``organization_unit`` scopes who sees it (null: organisation-wide, finance and auditors
    only). ``notified_at`` is null while the owners have not been told of it since it was
    opened or reopened (the digest picks those).
    """

    Kind = Kind
    Status = Status

    kind = models.CharField(max_length=32, choices=Kind.choices)
    key = models.CharField(max_length=255, unique=True)
    title = models.CharField(max_length=300)
    organization_unit = models.ForeignKey(
        OrganizationUnit,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recommendations",
    )
    amount = _money(help_text="The money at stake, in the reporting currency.")
    currency = models.CharField(max_length=8)
    evidence = models.JSONField(default=dict, blank=True)
    link = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    dismissed_amount = _money(null=True, blank=True)
    computed_at = models.DateTimeField()
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "-amount", "id"]
        indexes = [
            models.Index(fields=["status", "kind", "amount"], name="recommendation_list"),
            models.Index(fields=["organization_unit", "status"], name="recommendation_unit"),
            models.Index(
                fields=["opened_at"],
                name="recommendation_unnotified",
                condition=Q(status="open", notified_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: {self.amount} {self.currency} ({self.status})"


class RecommendationEvent(models.Model):
    """An immutable audit row: who dismissed (or reopened) a recommendation, when, why."""

    class Action(models.TextChoices):
        DISMISSED = "dismissed", "Dismissed"
        REOPENED = "reopened", "Reopened (amount grew past the threshold)"

    recommendation = models.ForeignKey(
        Recommendation, on_delete=models.CASCADE, related_name="events"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.TextField(blank=True)
    amount = _money(help_text="The recommendation's amount at the time.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["recommendation_id", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} #{self.recommendation_id} by {self.actor_id}"
