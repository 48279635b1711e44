"""Recurring cost items and accounting periods (SPEC 2.2).

A ``RecurringCost`` generates one pending ``Cost`` per occurrence; the
``RecurringCostOccurrence`` row, unique on (recurring cost, due day), is inserted first so
that an occurrence is generated exactly once however often and however concurrently the
generation runs. An ``AccountingPeriod`` moves ``open → closing → closed``; from the start
of its close, the costs services refuse every change to a cost incurred in it.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django_fsm import FSMField, transition

from costtrack.core.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS
from costtrack.core.validators import validate_tags
from orgunits.models import Entity, OrganizationUnit, Resource

__all__ = ["AccountingPeriod", "RecurringCost", "RecurringCostOccurrence"]


class RecurringCost(models.Model):
    """A subscription or one-time purchase entered once; generation books its occurrences."""

    class Cadence(models.TextChoices):
        MONTHLY = "monthly", "Monthly"
        QUARTERLY = "quarterly", "Quarterly"
        ANNUAL = "annual", "Annual"
        ONE_TIME = "one_time", "One time"

    name = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES)
    currency = models.CharField(max_length=8)
    cadence = models.CharField(max_length=16, choices=Cadence.choices, default=Cadence.MONTHLY)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    category = models.ForeignKey(
        "costs.CostCategory", on_delete=models.PROTECT, related_name="recurring_costs"
    )
    resource = models.ForeignKey(
        Resource, null=True, blank=True, on_delete=models.PROTECT, related_name="recurring_costs"
    )
    entity = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.PROTECT, related_name="recurring_costs"
    )
    organization_unit = models.ForeignKey(
        OrganizationUnit, on_delete=models.PROTECT, related_name="recurring_costs"
    )
    description = models.CharField(max_length=500, blank=True)
    tags = models.JSONField(default=dict, blank=True, validators=[validate_tags])
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="recurring_costs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="recurringcost_dates_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.amount} {self.currency} {self.cadence})"


class RecurringCostOccurrence(models.Model):
    """One generated occurrence: the unique key that makes generation idempotent."""

    recurring_cost = models.ForeignKey(
        RecurringCost, on_delete=models.PROTECT, related_name="occurrences"
    )
    due_on = models.DateField(help_text="The first day of the span this occurrence pays for.")
    cost = models.OneToOneField(
        "costs.Cost",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recurring_occurrence",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recurring_cost_id", "due_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["recurring_cost", "due_on"], name="recurringoccurrence_unique_due"
            )
        ]

    def __str__(self) -> str:
        return f"{self.recurring_cost_id} due {self.due_on}"


class PeriodStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSING = "closing", "Closing"
    CLOSED = "closed", "Closed"


class AccountingPeriod(models.Model):
    """A month of the books, from ``start`` to ``end`` inclusive (start day is a setting)."""

    Status = PeriodStatus

    label = models.CharField(max_length=7, unique=True, help_text="YYYY-MM")
    start = models.DateField(unique=True)
    end = models.DateField(unique=True)
    status = FSMField(default=PeriodStatus.OPEN, choices=PeriodStatus.choices)
    totals = models.JSONField(default=dict, blank=True)
    close_steps = models.JSONField(
        default=dict, blank=True, help_text="What each step of the close has done so far."
    )
    pending_at_close = models.JSONField(default=list, blank=True)
    closing_started_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gte=F("start")), name="accountingperiod_dates_ordered"
            )
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.status})"

    @transition(field=status, source=PeriodStatus.OPEN, target=PeriodStatus.CLOSING)
    def begin_close(self) -> None:
        pass

    @transition(field=status, source=PeriodStatus.CLOSING, target=PeriodStatus.CLOSED)
    def finish_close(self) -> None:
        pass
