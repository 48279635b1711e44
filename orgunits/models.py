"""The organisation: a tree of units, who belongs to them, and what they run and pay for."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from mptt.models import MPTTModel, TreeForeignKey

from costtrack.core.validators import validate_tags


class OrganizationUnit(MPTTModel):
    """A company, division, department or team. Moving a unit moves its subtree."""

    name = models.CharField(max_length=200)
    code = models.SlugField(
        max_length=64, unique=True, help_text="Short unique code, e.g. eng-platform."
    )
    parent = TreeForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_units",
    )
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class MPTTMeta:
        order_insertion_by = ["name"]

    class Meta:
        verbose_name = "organisation unit"
        indexes = [models.Index(fields=["tree_id", "lft", "rght"], name="orgunit_tree_range")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        APPROVER = "approver", "Approver"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    unit = models.ForeignKey(OrganizationUnit, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "unit"], name="membership_unique_user_unit")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.unit.code}"


class Delegation(models.Model):
    """An owner hands approval to someone else for a date range (both ends inclusive)."""

    delegator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_given"
    )
    delegate = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_received"
    )
    start_date = models.DateField()
    end_date = models.DateField()
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")), name="delegation_dates_ordered"
            ),
            models.CheckConstraint(
                condition=~Q(delegator=models.F("delegate")), name="delegation_not_to_self"
            ),
        ]
        indexes = [models.Index(fields=["delegator", "start_date", "end_date"])]

    def __str__(self) -> str:
        return f"{self.delegator} → {self.delegate} ({self.start_date}..{self.end_date})"


class Entity(models.Model):
    """Something the organisation runs and pays for: an application, service, system, contract."""

    class Kind(models.TextChoices):
        APPLICATION = "application", "Application"
        SERVICE = "service", "Service"
        SYSTEM = "system", "System"
        CONTRACT = "contract", "Contract"
        OTHER = "other", "Other"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.APPLICATION)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_entities",
    )
    organization_unit = models.ForeignKey(
        OrganizationUnit, on_delete=models.PROTECT, related_name="entities"
    )
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True, validators=[validate_tags])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "entities"
        constraints = [
            models.UniqueConstraint(
                fields=["organization_unit", "name"], name="entity_unique_name_per_unit"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Resource(models.Model):
    """A cloud or platform resource, identified by its provider's own id."""

    class Provider(models.TextChoices):
        AWS = "aws", "AWS"
        GCP = "gcp", "Google Cloud"
        AZURE = "azure", "Azure"
        K8S = "k8s", "Kubernetes"
        OTHER = "other", "Other"

    provider = models.CharField(max_length=16, choices=Provider.choices)
    provider_resource_id = models.CharField(
        max_length=512, help_text="ARN, resource path, k8s namespace/workload …"
    )
    account = models.CharField(
        max_length=128,
        blank=True,
        help_text="AWS account, GCP project, Azure subscription, cluster.",
    )
    region = models.CharField(max_length=64, blank=True)
    service = models.CharField(max_length=128, blank=True)
    name = models.CharField(max_length=255)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_resources",
    )
    entity = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.SET_NULL, related_name="resources"
    )
    organization_unit = models.ForeignKey(
        OrganizationUnit, on_delete=models.PROTECT, related_name="resources"
    )
    tags = models.JSONField(default=dict, blank=True, validators=[validate_tags])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_resource_id"], name="resource_unique_provider_id"
            )
        ]
        indexes = [models.Index(fields=["provider", "account", "region"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"
