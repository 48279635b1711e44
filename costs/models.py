"""Costs: categories, exchange rates, costs with their approval state machine, and the
immutable audit trail of every change.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, transition
from mptt.models import MPTTModel, TreeForeignKey

from costtrack.core.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS
from costtrack.core.validators import validate_http_url, validate_metadata, validate_tags
from orgunits.models import Entity, OrganizationUnit, Resource


class CostCategory(MPTTModel):
    """A category tree such as ``Expenses:Cloud:Compute``; filters and budgets cover subtrees."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    parent = TreeForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    dimension = models.CharField(
        max_length=32,
        blank=True,
        help_text="Allocation dimension of costs in this category (compute, storage, network …).",
    )
    description = models.TextField(blank=True)

    class MPTTMeta:
        order_insertion_by = ["name"]

    class Meta:
        verbose_name_plural = "cost categories"

    def __str__(self) -> str:
        return self.slug

    @property
    def path(self) -> str:
        """The colon-separated path from the root, e.g. ``Expenses:Cloud:Compute``."""
        return ":".join(a.name for a in self.get_ancestors(include_self=True))


class ExchangeRate(models.Model):
    """One unit of ``currency`` is worth ``rate`` units of the reporting currency on ``date``."""

    date = models.DateField()
    currency = models.CharField(max_length=8)
    rate = models.DecimalField(max_digits=24, decimal_places=12)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["currency", "date"], name="exchangerate_unique_day"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchangerate_positive"),
        ]
        ordering = ["currency", "-date"]

    def __str__(self) -> str:
        return f"{self.currency} {self.date} = {self.rate}"


class CostStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    VOIDED = "voided", "Voided"


class Cost(models.Model):
    """A cost (or a credit) against a resource, entity or unit, and its approval state.

    ``status`` is protected: it changes only through the ``@transition`` methods, which the
    services in ``costs.services`` call together with the audit event and notifications.
    """

    Status = CostStatus

    class Source(models.TextChoices):
        MANUAL = "manual", "Manual"
        API = "api", "API"
        RECURRING = "recurring", "Recurring"
        IMPORT = "import", "Import"

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        CREDIT = "credit", "Credit"

    amount = models.DecimalField(max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES)
    currency = models.CharField(max_length=8)
    amount_reporting = models.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS,
        decimal_places=AMOUNT_DECIMAL_PLACES,
        help_text="The amount in the reporting currency, converted at write time.",
    )
    exchange_rate = models.DecimalField(max_digits=24, decimal_places=12, default=1)
    incurred_on = models.DateField(
        help_text="The day of the cost (the start of its charge period)."
    )
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    # Each cost foreign key that leads a composite index below gets no index of its own: the
    # composite serves its lookups, and every index costs each insert (imports write many).
    category = models.ForeignKey(
        CostCategory, on_delete=models.PROTECT, related_name="costs", db_index=False
    )
    description = models.CharField(max_length=500, blank=True)
    resource = models.ForeignKey(
        Resource,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="costs",
        db_index=False,
    )
    entity = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.PROTECT, related_name="costs"
    )
    organization_unit = models.ForeignKey(
        OrganizationUnit, on_delete=models.PROTECT, related_name="costs", db_index=False
    )
    url = models.URLField(max_length=2000, blank=True, validators=[validate_http_url])
    metadata = models.JSONField(default=dict, blank=True, validators=[validate_metadata])
    tags = models.JSONField(default=dict, blank=True, validators=[validate_tags])
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CHARGE)
    status = FSMField(default=CostStatus.DRAFT, choices=CostStatus.choices, protected=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="submitted_costs",
        db_index=False,
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="costs_to_approve",
        db_index=False,
        help_text="The resolved approver; empty means the finance group decides.",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="decided_costs",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "incurred_on"], name="cost_status_day"),
            models.Index(
                fields=["organization_unit", "status", "incurred_on"], name="cost_unit_status_day"
            ),
            models.Index(fields=["approver", "status"], name="cost_approver_status"),
            models.Index(fields=["category", "status", "incurred_on"], name="cost_cat_status_day"),
            models.Index(fields=["resource", "status", "incurred_on"], name="cost_res_status_day"),
            models.Index(fields=["submitted_by", "status"], name="cost_submitter_status"),
            # the costs list's default order (newest day first): its first page is an index
            # scan, not a sort of every matching cost
            models.Index(fields=["-incurred_on", "-id"], name="cost_day_id"),
            # the approval queue (inbox, dashboard): pending costs oldest first, carrying the
            # columns that route them, so its first page and its capped count read the index
            # alone however many costs were ever approved
            models.Index(
                fields=["submitted_at", "id"],
                name="cost_pending_queue",
                condition=models.Q(status="pending"),
                include=["approver", "submitted_by", "organization_unit"],
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="charge", amount__gte=0) | Q(kind="credit", amount__lte=0)),
                name="cost_sign_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(period_end__isnull=True)
                | Q(period_start__isnull=True)
                | Q(period_end__gte=models.F("period_start")),
                name="cost_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"Cost #{self.pk} {self.amount} {self.currency} ({self.status})"

    # --- state machine: guards only; services persist, audit and notify -------------------
    @transition(field=status, source=CostStatus.DRAFT, target=CostStatus.PENDING)
    def submit(self) -> None:
        pass

    @transition(field=status, source=CostStatus.PENDING, target=CostStatus.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field=status, source=CostStatus.PENDING, target=CostStatus.REJECTED)
    def reject(self) -> None:
        pass

    @transition(field=status, source=CostStatus.REJECTED, target=CostStatus.DRAFT)
    def revise(self) -> None:
        pass

    @transition(
        field=status,
        source=[CostStatus.DRAFT, CostStatus.PENDING, CostStatus.REJECTED],
        target=CostStatus.CANCELLED,
    )
    def cancel(self) -> None:
        pass

    @transition(field=status, source=CostStatus.APPROVED, target=CostStatus.VOIDED)
    def void(self) -> None:
        pass


class CostEvent(models.Model):
    """One immutable line of a cost's audit trail: a transition or an edit.

    Rows are only ever inserted; a database trigger refuses UPDATE and DELETE on PostgreSQL,
    and no admin, API or page offers a way to change them.
    """

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        EDIT = "edit", "Edited"
        SUBMIT = "submit", "Submitted"
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"
        REVISE = "revise", "Revised"
        CANCEL = "cancel", "Cancelled"
        VOID = "void", "Voided"
        OVERRIDE = "override", "Budget block overridden"
        RECONVERT = "reconvert", "Reconverted"

    cost = models.ForeignKey(
        Cost, on_delete=models.PROTECT, related_name="events", db_index=False
    )  # served by the (cost, at) index
    action = models.CharField(max_length=16, choices=Action.choices)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    comment = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["cost", "at"], name="costevent_cost_at")]

    def __str__(self) -> str:
        return f"{self.action} on cost #{self.cost_id} at {self.at:%Y-%m-%d %H:%M}"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` for a create: a retried request returns the first cost."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    cost = models.ForeignKey(Cost, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} → cost #{self.cost_id}"


from .import_models import *  # noqa: E402,F401,F403
from .period_models import *  # noqa: E402,F401,F403
from .summary_models import *  # noqa: E402,F401,F403
