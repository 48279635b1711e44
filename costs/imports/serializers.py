"""Input and output shapes of the billing import API."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orgunits.models import Entity, OrganizationUnit

from ..models import CostCategory, ImportBatch, ImportScope, MappingRule


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False)
    unit = serializers.SlugRelatedField(
        slug_field="code",
        queryset=OrganizationUnit.objects.all(),
        required=False,
        help_text="Code of the unit for rows no rule or known resource places.",
    )
    override_reason = serializers.CharField(required=False, allow_blank=True, default="")
    focus_version = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=8,
        help_text="The file's FOCUS version (1.0, 1.1, 1.2 or 1.3); detected when empty.",
    )


class ImportScopeSerializer(serializers.ModelSerializer):
    """One (provider, billing account, billing period) of the file, with its own figures."""

    class Meta:
        model = ImportScope
        fields = [
            "id",
            "provider",
            "billing_account_id",
            "billing_account_name",
            "billing_period_start",
            "billing_period_end",
            "status",
            "rows",
            "imported_rows",
            "skipped_rows",
            "unmapped_rows",
            "corrections",
            "costs_created",
            "costs_reversed",
            "totals",
            "cost_totals",
            "kept",
            "supersedes",
            "superseded_at",
        ]
        read_only_fields = fields


class UnmappedKeySerializer(serializers.Serializer):
    tags = serializers.DictField()
    sub_account_id = serializers.CharField()
    service_name = serializers.CharField()
    region_id = serializers.CharField()
    currency = serializers.CharField()
    costs = serializers.IntegerField()
    lines = serializers.IntegerField()
    total = serializers.CharField()


class ImportBatchSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    default_unit = serializers.CharField(
        source="default_unit.code", read_only=True, default=None, allow_null=True
    )
    superseded_by = serializers.SerializerMethodField()
    counts = serializers.SerializerMethodField()
    status = serializers.CharField(
        read_only=True, help_text="queued, running, succeeded or failed."
    )

    class Meta:
        model = ImportBatch
        fields = [
            "id",
            "format",
            "file_name",
            "file_size",
            "sha256",
            "status",
            "billing_account_id",
            "billing_account_name",
            "billing_period_start",
            "billing_period_end",
            "provider",
            "focus_version",
            "amount_column",
            "default_unit",
            "counts",
            "totals",
            "total_reporting",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "duplicate_of",
            "supersedes",
            "superseded_by",
        ]
        read_only_fields = fields

    def get_counts(self, batch: ImportBatch) -> dict[str, int]:
        return {
            "rows": batch.rows,
            "imported": batch.imported_rows,
            "skipped": batch.skipped_rows,
            "unmapped": batch.unmapped_rows,
            "errors": batch.error_count,
            "costs_created": batch.costs_created,
            "costs_auto_approved": batch.costs_auto_approved,
            "costs_reversed": batch.costs_reversed,
            "resources_created": batch.resources_created,
        }

    def get_superseded_by(self, batch: ImportBatch) -> int | None:
        successor = getattr(batch, "superseded_by", None)
        return successor.pk if successor is not None else None


class ImportBatchDetailSerializer(ImportBatchSerializer):
    scopes = ImportScopeSerializer(many=True, read_only=True)
    unmapped_keys = serializers.SerializerMethodField()

    class Meta(ImportBatchSerializer.Meta):
        fields = [
            *ImportBatchSerializer.Meta.fields,
            "scopes",
            "unmapped_keys",
            "errors",
            "warnings",
        ]
        read_only_fields = fields

    @extend_schema_field(UnmappedKeySerializer(many=True))
    def get_unmapped_keys(self, batch: ImportBatch) -> list[dict]:
        """The unmapped rows' keys with their totals (largest first, at most 50)."""
        if not batch.unmapped_rows:
            return []
        from .selectors import import_unmapped_keys

        return import_unmapped_keys(batch=batch)


class PlacementResultSerializer(serializers.Serializer):
    placed_costs = serializers.IntegerField()
    placed_rows = serializers.IntegerField()
    still_unmapped_rows = serializers.IntegerField()


class ImportDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    approver = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Whose share to decide: a user id, null for the finance group; default me.",
    )
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Finance only: approve past a blocking budget, for this reason.",
    )


class MappingRuleSerializer(serializers.ModelSerializer):
    organization_unit = serializers.PrimaryKeyRelatedField(
        queryset=OrganizationUnit.objects.all(), required=False, allow_null=True
    )
    entity = serializers.PrimaryKeyRelatedField(
        queryset=Entity.objects.all(), required=False, allow_null=True
    )
    category = serializers.PrimaryKeyRelatedField(
        queryset=CostCategory.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = MappingRule
        fields = [
            "id",
            "name",
            "priority",
            "active",
            "match_provider",
            "match_billing_account",
            "match_sub_account",
            "match_service",
            "match_tag_key",
            "match_tag_value",
            "organization_unit",
            "entity",
            "category",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
