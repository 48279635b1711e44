"""The kinds of notification costtrack sends (SPEC 2.5). Preferences are kept per kind."""

from django.db import models


class Kind(models.TextChoices):
    APPROVAL_REQUESTED = "approval_requested", "Approval requested"
    COST_APPROVED = "cost_approved", "Cost approved"
    COST_REJECTED = "cost_rejected", "Cost rejected"
    BUDGET_THRESHOLD = "budget_threshold", "Budget threshold reached"
    BUDGET_FORECAST = "budget_forecast", "Budget forecast to exceed"
    BUDGET_BLOCKED = "budget_blocked", "Submission blocked by budget"
    PENDING_REMINDER = "pending_reminder", "Pending approval reminder"
    PENDING_ESCALATION = "pending_escalation", "Pending approval escalated"
    PERIOD_CLOSED = "period_closed", "Accounting period closed"
    IMPORT_FINISHED = "import_finished", "Billing import finished"
    RECOMMENDATIONS = "recommendations", "New recommendations (one digest per computation)"
