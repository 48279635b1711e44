"""Billing imports: FOCUS files, the costs they created, mapping rules and auto-approval.

Imported here from the end of ``costs/models.py`` so that they belong to the ``costs`` app
without touching the core cost models.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from costtrack.core.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS
from orgunits.models import Entity, OrganizationUnit

__all__ = [
    "ImportApprovalPolicy",
    "ImportBatch",
    "ImportFile",
    "ImportScope",
    "ImportedCost",
    "MappingRule",
]


class ImportBatch(models.Model):
    """One billing file import: what it covered, how it went and what it replaced.

    A file covers one or more scopes (``ImportScope``: provider, billing account, billing
    period), each replaced on its own. A succeeded batch is *wholly current* until a later
    file replaces one of its scopes (``superseded_at``; its other scopes stay active);
    ``supersedes`` names the one earlier import a file replaced every scope of, if any. The
    billing account and period fields name the file's first scope.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        FOCUS = "focus", "FinOps FOCUS CSV"
        FOCUS_PARQUET = "focus-parquet", "FinOps FOCUS Parquet"

    format = models.CharField(max_length=16, choices=Format.choices, default=Format.FOCUS)
    file_name = models.CharField(max_length=255)
    file_size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    billing_account_id = models.CharField(max_length=255, blank=True)
    billing_account_name = models.CharField(max_length=255, blank=True)
    billing_period_start = models.DateField(null=True, blank=True)
    billing_period_end = models.DateField(null=True, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    focus_version = models.CharField(
        max_length=8, blank=True, help_text="The FOCUS version the header's columns match."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    amount_column = models.CharField(max_length=32, default="EffectiveCost")
    default_unit = models.ForeignKey(
        OrganizationUnit,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Where rows that no mapping rule or known resource places go.",
    )
    override_reason = models.TextField(
        blank=True, help_text="Why finance imported the file past a blocking budget."
    )
    rows = models.IntegerField(default=0, help_text="Data rows in the file.")
    imported_rows = models.IntegerField(default=0)
    skipped_rows = models.IntegerField(default=0, help_text="Rows with a zero amount.")
    unmapped_rows = models.IntegerField(default=0, help_text="Rows placed in the default unit.")
    error_count = models.IntegerField(default=0)
    costs_created = models.IntegerField(default=0)
    costs_auto_approved = models.IntegerField(default=0)
    costs_reversed = models.IntegerField(default=0)
    resources_created = models.IntegerField(default=0)
    totals = models.JSONField(
        default=dict, blank=True, help_text="Imported amount per billing currency."
    )
    total_reporting = models.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, default=0
    )
    errors = models.JSONField(
        default=list, blank=True, help_text="[{line, column, message}]; line 0 is the file."
    )
    warnings = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="import_batches"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The earlier import of the very same file, when this one changed nothing.",
    )
    supersedes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
        help_text="The earlier import of the same billing account and period this one replaced.",
    )
    superseded_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a later file for the same billing account and period replaced this one.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["billing_account_id", "billing_period_start", "status"],
                name="importbatch_account_period",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["sha256"],
                condition=Q(
                    status="succeeded", duplicate_of__isnull=True, superseded_at__isnull=True
                ),
                name="importbatch_unique_active_file",
            ),
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.file_name} ({self.status})"


class ImportScope(models.Model):
    """One (provider, billing account, billing period) of an import's file.

    A file covers any number of scopes; each is imported, replaced and reported on its own.
    A scope is *active* until a later file's scope with the same key and other content
    replaces it (``superseded_at``). A scope whose content equals the active one's is
    ``unchanged``: it makes no costs and points at the scope it kept (``kept``).
    """

    class Status(models.TextChoices):
        IMPORTED = "imported", "Imported"
        UNCHANGED = "unchanged", "Unchanged (kept the earlier import)"

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="scopes")
    provider = models.CharField(max_length=64)
    billing_account_id = models.CharField(max_length=255)
    billing_account_name = models.CharField(max_length=255, blank=True)
    billing_period_start = models.DateField()
    billing_period_end = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IMPORTED)
    digest = models.CharField(max_length=64, blank=True, help_text="Of the scope's charges.")
    first_line = models.IntegerField(default=0)
    rows = models.IntegerField(default=0)
    imported_rows = models.IntegerField(default=0)
    skipped_rows = models.IntegerField(default=0)
    unmapped_rows = models.IntegerField(default=0)
    corrections = models.IntegerField(
        default=0, help_text="Costs booked in an open period for a closed one."
    )
    costs_created = models.IntegerField(default=0)
    costs_reversed = models.IntegerField(default=0)
    totals = models.JSONField(
        default=dict, blank=True, help_text="Imported amount per billing currency."
    )
    cost_totals = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per billing currency, the file's BilledCost, EffectiveCost and ListCost.",
    )
    kept = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    supersedes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch_id", "provider", "billing_account_id", "billing_period_start", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "billing_account_id", "billing_period_start",
                        "billing_period_end"],
                condition=Q(status="imported", superseded_at__isnull=True),
                name="importscope_unique_active",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return (
            f"{self.provider} {self.billing_account_id} {self.billing_period_start}"
            f" (import #{self.batch_id})"
        )


class ImportFile(models.Model):
    """The uploaded bytes of a queued import, kept in the database so any worker can read them."""

    batch = models.OneToOneField(
        ImportBatch, on_delete=models.CASCADE, primary_key=True, related_name="upload"
    )
    content = models.BinaryField()

    def __str__(self) -> str:
        return f"File of import #{self.batch_id}"


class ImportedCost(models.Model):
    """Which import created a cost: one of its charges, or a reversal of an earlier import."""

    class Role(models.TextChoices):
        CHARGE = "charge", "Imported charge"
        REVERSAL = "reversal", "Reversal of a replaced import"

    cost = models.OneToOneField(
        "costs.Cost", on_delete=models.CASCADE, primary_key=True, related_name="import_link"
    )
    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, related_name="cost_links")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CHARGE)
    scope = models.ForeignKey(
        ImportScope, null=True, blank=True, on_delete=models.PROTECT, related_name="cost_links"
    )
    lines = models.IntegerField(default=0, help_text="File rows summed into this cost.")
    first_line = models.IntegerField(default=0)
    corrects_period = models.ForeignKey(
        "costs.AccountingPeriod",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="import_adjustments",
        help_text="The closed period this cost corrects (booked in the first open one).",
    )
    charged_on = models.DateField(
        null=True, blank=True, help_text="For a correction: the charge day in the file."
    )
    unmapped = models.BooleanField(
        default=False, help_text="No mapping rule or known resource placed it (default unit)."
    )
    reverses = models.OneToOneField(
        "costs.Cost",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by_link",
    )

    class Meta:
        indexes = [models.Index(fields=["batch", "role"], name="importedcost_batch_role")]

    def __str__(self) -> str:
        return f"Cost #{self.cost_id} from import #{self.batch_id}"


class MappingRule(models.Model):
    """Place imported rows: conditions (all that are set must match) → unit, entity, category.

    Rules are tried in ``priority`` order (lowest first, then id); the first match wins.
    """

    name = models.CharField(max_length=200)
    priority = models.IntegerField(default=100)
    active = models.BooleanField(default=True)
    match_provider = models.CharField(
        max_length=64, blank=True, help_text="FOCUS ProviderName, e.g. AWS (case-insensitive)."
    )
    match_billing_account = models.CharField(max_length=255, blank=True)
    match_sub_account = models.CharField(max_length=255, blank=True)
    match_service = models.CharField(
        max_length=255, blank=True, help_text="FOCUS ServiceName (case-insensitive)."
    )
    match_tag_key = models.CharField(max_length=256, blank=True)
    match_tag_value = models.CharField(
        max_length=256, blank=True, help_text="Empty: any value of the tag key."
    )
    organization_unit = models.ForeignKey(
        OrganizationUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    entity = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    category = models.ForeignKey(
        "costs.CostCategory", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(organization_unit__isnull=False)
                | Q(entity__isnull=False)
                | Q(category__isnull=False),
                name="mappingrule_has_target",
            ),
            models.CheckConstraint(
                condition=Q(match_tag_value="") | ~Q(match_tag_key=""),
                name="mappingrule_tag_value_needs_key",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ImportApprovalPolicy(models.Model):
    """Imported costs of a unit (and its subtree) up to ``max_amount`` are approved on import.

    The nearest unit up the tree with an active policy decides; ``max_amount`` is in
    ``currency`` (compared through exchange rates when the bill is in another currency).
    """

    organization_unit = models.OneToOneField(
        OrganizationUnit, on_delete=models.CASCADE, related_name="import_approval_policy"
    )
    max_amount = models.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES
    )
    currency = models.CharField(max_length=8)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "import approval policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(max_amount__gte=0), name="importapprovalpolicy_nonnegative"
            )
        ]

    def __str__(self) -> str:
        return (
            f"Auto-approve imports ≤ {self.max_amount} {self.currency} in {self.organization_unit}"
        )
