"""Budgets: a spending plan for a scope (unit subtree, category subtree, tags, team) and a
period, the history of its amount, and the threshold alerts it has fired.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q

from costs.models import CostCategory
from costtrack.core.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS
from orgunits.models import OrganizationUnit

DEFAULT_THRESHOLDS = ["0.5", "0.8", "0.9", "1.0"]


def default_thresholds() -> list[str]:
    return list(DEFAULT_THRESHOLDS)


class Budget(models.Model):
    """How much a scope may spend per period, and what happens when it is exceeded.

    The scope is the unit with its subtree, narrowed by an optional category (with its
    subcategories), an optional tag filter (every pair must match) and an optional team
    (costs submitted by the members of a Django group). Amounts are in ``currency``; costs in
    other currencies are converted at their own date.
    """

    class Period(models.TextChoices):
        HOURLY = "hourly", "Hourly"
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly (from Monday)"
        MONTHLY = "monthly", "Monthly"
        QUARTERLY = "quarterly", "Quarterly"
        ANNUAL = "annual", "Annual (fiscal year)"
        CUSTOM = "custom", "Custom range"

    class Action(models.TextChoices):
        BLOCK = "block", "Block submissions"
        WARN = "warn", "Warn"
        IGNORE = "ignore", "Ignore"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    amount = models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES)
    currency = models.CharField(max_length=8)
    period = models.CharField(max_length=16, choices=Period.choices, default=Period.MONTHLY)
    start_date = models.DateField(null=True, blank=True, help_text="First day of a custom period.")
    end_date = models.DateField(null=True, blank=True, help_text="Last day of a custom period.")
    organization_unit = models.ForeignKey(
        OrganizationUnit, on_delete=models.PROTECT, related_name="budgets"
    )
    category = models.ForeignKey(
        CostCategory, null=True, blank=True, on_delete=models.PROTECT, related_name="budgets"
    )
    tags_filter = models.JSONField(default=dict, blank=True)
    team = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.PROTECT, related_name="budgets"
    )
    alert_thresholds = models.JSONField(default=default_thresholds)
    action = models.CharField(max_length=8, choices=Action.choices, default=Action.WARN)
    include_pending = models.BooleanField(
        default=True, help_text="Pending (committed) costs count against the budget."
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="budgets_created",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["active", "organization_unit"], name="budget_active_unit"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="budget_amount_positive"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(end_date__gte=models.F("start_date")),
                name="budget_custom_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.amount} {self.currency} {self.period})"


class BudgetRevision(models.Model):
    """One change of a budget's amount: who, when, from what, to what, and why."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="revisions")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    old_amount = models.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES
    )
    new_amount = models.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES
    )
    reason = models.TextField()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.budget.name}: {self.old_amount} → {self.new_amount}"


class BudgetAlert(models.Model):
    """A threshold a budget reached in one period; fires at most once per kind and period.

    Kind ``block`` (threshold 1) records that the budget refused a cost in the period; its
    owners are told of the first refusal only.
    """

    class Kind(models.TextChoices):
        ACTUAL = "actual", "Actual"
        FORECAST = "forecast", "Forecast"
        BLOCK = "block", "Blocked a cost"

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField(help_text="End of the period (exclusive).")
    threshold = models.DecimalField(max_digits=6, decimal_places=4)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    spend = models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES)
    amount = models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES)
    message = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period_start", "threshold", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_start", "threshold", "kind"],
                name="budgetalert_once_per_period",
            )
        ]

    def __str__(self) -> str:
        return f"{self.budget.name} {self.kind} {self.threshold:%} at {self.period_start:%Y-%m-%d}"
