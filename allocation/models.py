"""Allocation: the cost graph (nodes and edges), usage, and the runs that attribute shared
infrastructure cost to products, with their results, flows and ledger.

Rows of a run (results, flows, ledger) are only ever written by ``allocation.services`` in
bulk, once, when the run computes; nothing edits them afterwards.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from costtrack.core.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS
from orgunits.models import Entity, OrganizationUnit, Resource

from . import engine


def _money(**kwargs):
    return models.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, **kwargs
    )


class CostNode(models.Model):
    """A node of the cost graph. Its direct cost is the approved cost of the linked object."""

    class Kind(models.TextChoices):
        RESOURCE = engine.RESOURCE, "Resource"
        SHARED_SERVICE = engine.SHARED_SERVICE, "Shared service"
        PLATFORM = engine.PLATFORM, "Platform"
        PRODUCT = engine.PRODUCT, "Product"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    resource = models.ForeignKey(
        Resource, null=True, blank=True, on_delete=models.PROTECT, related_name="cost_nodes"
    )
    entity = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.PROTECT, related_name="cost_nodes"
    )
    organization_unit = models.ForeignKey(
        OrganizationUnit,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cost_nodes",
    )
    description = models.TextField(blank=True)
    parent_product = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="child_products",
        help_text=(
            "Products only: the product this one rolls up into in the product P&L (a "
            "reporting tree; cost itself flows only along edges)."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(resource__isnull=True, entity__isnull=True)
                | Q(resource__isnull=True, organization_unit__isnull=True)
                | Q(entity__isnull=True, organization_unit__isnull=True),
                name="costnode_at_most_one_link",
            ),
            # A cost counts at one node only: two nodes on one link would split it silently.
            models.UniqueConstraint(fields=["resource"], name="costnode_unique_resource"),
            models.UniqueConstraint(fields=["entity"], name="costnode_unique_entity"),
            models.UniqueConstraint(
                fields=["organization_unit"], name="costnode_unique_organization_unit"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AllocationEdge(models.Model):
    """``parent`` (the cost source) passes cost to ``child`` (the receiver) by ``strategy``."""

    STRATEGY_CHOICES = [(s, s.replace("_", " ").capitalize()) for s in engine.STRATEGIES]

    parent = models.ForeignKey(CostNode, on_delete=models.CASCADE, related_name="out_edges")
    child = models.ForeignKey(CostNode, on_delete=models.CASCADE, related_name="in_edges")
    strategy = models.CharField(
        max_length=32,
        choices=STRATEGY_CHOICES,
        default=engine.EQUAL,
        help_text=(
            "equal: evenly among active children; proportional: by usage of a metric; "
            "fixed_percent: a set share; capped_proportional: proportional up to a cap; "
            "residual_to_max: all that the fixed shares leave goes to the child with the "
            "highest usage (ties: lowest node id), e.g. 1,000.00 with one child at 30 % and "
            "two residual_to_max children using 100 and 400 gives 300.00, 0.00 and 700.00; "
            "weighted_average: proportional over a window; hybrid_fixed_proportional; "
            "min_floor_proportional. See docs/allocation.md."
        ),
    )
    parameters = models.JSONField(default=dict, blank=True)
    overrides = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per dimension: {"storage": {"strategy": ..., "parameters": {...}}}.',
    )
    active_from = models.DateField(null=True, blank=True)
    active_to = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["parent_id", "child_id"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "child"], name="allocationedge_unique_pair"),
            models.CheckConstraint(condition=~Q(parent=F("child")), name="allocationedge_no_loop"),
            models.CheckConstraint(
                condition=Q(active_from__isnull=True)
                | Q(active_to__isnull=True)
                | Q(active_to__gte=F("active_from")),
                name="allocationedge_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.parent} → {self.child} ({self.strategy})"


class UsageRecord(models.Model):
    """How much of a metric a node used on a day (optionally for one dimension)."""

    node = models.ForeignKey(CostNode, on_delete=models.CASCADE, related_name="usage")
    metric = models.CharField(max_length=64)
    date = models.DateField()
    quantity = models.DecimalField(
        max_digits=24,
        decimal_places=engine.USAGE_DECIMALS,
        validators=[MinValueValidator(0, message="A quantity of usage cannot be negative.")],
    )
    dimension = models.CharField(
        max_length=32, blank=True, help_text="Empty: the usage counts for every dimension."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date", "node_id", "metric"]
        indexes = [models.Index(fields=["date", "node"], name="usage_date_node")]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="usage_not_negative")
        ]

    def __str__(self) -> str:
        return f"{self.node} {self.metric} {self.date}: {self.quantity}"


class AllocationRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    input_fingerprint = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=8)
    raw_total = _money(default=0)
    allocated_total = _money(default=0)
    unallocated_total = _money(default=0)
    carried_forward_total = _money(default=0)
    coverage = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    invariants = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    same_as = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Inputs unchanged since this run: its results, flows and ledger stand.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "-id"]
        indexes = [
            models.Index(
                fields=["period_start", "period_end", "status"], name="allocationrun_period"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="allocationrun_period_ordered"
            )
        ]

    def __str__(self) -> str:
        return f"Allocation run #{self.pk} {self.period_start}–{self.period_end} ({self.status})"

    @property
    def rows_run_id(self) -> int:
        """The run whose results, flows and ledger rows this run reports."""
        return self.same_as_id or self.pk


def _run_fk(related_name: str):
    # Rows of a run are written once, by COPY, from nodes read in the same transaction; per-row
    # foreign-key triggers and single-column indexes would cost more than the rest of the run.
    # Deletes still cascade through the ORM.
    return models.ForeignKey(
        AllocationRun,
        on_delete=models.CASCADE,
        related_name=related_name,
        db_constraint=False,
        db_index=False,
    )


def _node_fk(**kwargs):
    # A node that appears in a run cannot be deleted: past runs stay explainable.
    return models.ForeignKey(
        CostNode,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
        **kwargs,
    )


class AllocationResult(models.Model):
    run = _run_fk("results")
    node = _node_fk()
    dimension = models.CharField(max_length=32)
    direct = _money()
    received = _money()
    holistic = _money()
    allocated_out = _money()
    retained = _money()
    carried_forward = _money(default=0)

    class Meta:
        ordering = ["run_id", "node_id", "dimension"]
        indexes = [models.Index(fields=["run", "node"], name="allocresult_run_node")]

    def __str__(self) -> str:
        return f"run {self.run_id} node {self.node_id} {self.dimension}: {self.holistic}"


class AllocationFlow(models.Model):
    run = _run_fk("flows")
    from_node = _node_fk()
    to_node = _node_fk()
    dimension = models.CharField(max_length=32)
    amount = _money()

    class Meta:
        ordering = ["run_id", "id"]
        indexes = [models.Index(fields=["run", "to_node"], name="allocflow_run_to")]

    def __str__(self) -> str:
        return f"{self.from_node_id} → {self.to_node_id} {self.dimension}: {self.amount}"


class LedgerEntry(models.Model):
    """One side of a double entry; the two rows of an entry share ``entry`` and an amount."""

    class Kind(models.TextChoices):
        COST_INCURRED = engine.LEDGER_COST_INCURRED, "Cost incurred"
        COST_ALLOCATED = engine.LEDGER_COST_ALLOCATED, "Cost allocated"
        LOSS_FORWARD = engine.LEDGER_LOSS_FORWARD, "Loss carried forward"

    run = _run_fk("ledger")
    entry = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    account = models.CharField(max_length=16)
    node = _node_fk(null=True, blank=True)
    dimension = models.CharField(max_length=32)
    debit = _money(default=0)
    credit = _money(default=0)

    class Meta:
        ordering = ["run_id", "entry", "id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["run", "kind"], name="ledger_run_kind")]

    def __str__(self) -> str:
        return f"run {self.run_id} entry {self.entry} {self.kind} {self.account}"


from .revenue_models import Revenue  # noqa: E402,F401
