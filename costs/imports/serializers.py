"""Input and output shapes of the billing import API."""

from rest_framework import serializers

from orgunits.models import Entity, OrganizationUnit

from ..models import CostCategory, ImportBatch, MappingRule


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False)
    unit = serializers.SlugRelatedField(
        slug_field="code",
        queryset=OrganizationUnit.objects.all(),
        required=False,
        help_text="Code of the unit for rows no rule or known resource places.",
    )
    override_reason = serializers.CharField(required=False, allow_blank=True, default="")


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
    class Meta(ImportBatchSerializer.Meta):
        fields = [*ImportBatchSerializer.Meta.fields, "errors", "warnings"]
        read_only_fields = fields


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
