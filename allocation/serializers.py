"""Serializers of the allocation API: input validation and output shapes only."""

from datetime import date

from rest_framework import serializers

from costtrack.core.money import AMOUNT_DECIMAL_PLACES
from orgunits.models import Entity, OrganizationUnit, Resource

from . import selectors
from .models import (
    AllocationEdge,
    AllocationFlow,
    AllocationResult,
    AllocationRun,
    CostNode,
    UsageRecord,
)


class CostNodeSerializer(serializers.ModelSerializer):
    resource = serializers.PrimaryKeyRelatedField(
        queryset=Resource.objects.all(), required=False, allow_null=True
    )
    entity = serializers.PrimaryKeyRelatedField(
        queryset=Entity.objects.all(), required=False, allow_null=True
    )
    organization_unit = serializers.PrimaryKeyRelatedField(
        queryset=OrganizationUnit.objects.all(), required=False, allow_null=True
    )
    parent_product = serializers.PrimaryKeyRelatedField(
        queryset=CostNode.objects.filter(kind=CostNode.Kind.PRODUCT),
        required=False,
        allow_null=True,
        help_text="Products only: the product this one rolls up into in the product P&L.",
    )

    class Meta:
        model = CostNode
        fields = [
            "id",
            "name",
            "kind",
            "resource",
            "entity",
            "organization_unit",
            "parent_product",
            "description",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class AllocationEdgeSerializer(serializers.ModelSerializer):
    parent_name = serializers.CharField(source="parent.name", read_only=True)
    child_name = serializers.CharField(source="child.name", read_only=True)
    parameters = serializers.JSONField(required=False)
    overrides = serializers.JSONField(required=False)

    class Meta:
        model = AllocationEdge
        fields = [
            "id",
            "parent",
            "parent_name",
            "child",
            "child_name",
            "strategy",
            "parameters",
            "overrides",
            "active_from",
            "active_to",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # The service names the nodes when a pair already exists.
        validators = []

    def validate(self, attrs):
        if self.instance is not None:
            for name in ("parent", "child"):
                if name in attrs and attrs[name] != getattr(self.instance, name):
                    raise serializers.ValidationError(
                        {name: ["An edge's nodes cannot change; delete it and create another."]}
                    )
                attrs.pop(name, None)
        return attrs


class UsageRecordSerializer(serializers.ModelSerializer):
    node_name = serializers.CharField(source="node.name", read_only=True)
    quantity = serializers.DecimalField(
        max_digits=24, decimal_places=6, min_value=0, coerce_to_string=True
    )

    class Meta:
        model = UsageRecord
        fields = ["id", "node", "node_name", "metric", "date", "quantity", "dimension"]
        read_only_fields = ["id"]


class RunRequestSerializer(serializers.Serializer):
    """``{"period": "2025-03"}`` or ``{"period_start": ..., "period_end": ...}``."""

    period = serializers.CharField(required=False)
    period_start = serializers.DateField(required=False)
    period_end = serializers.DateField(required=False)

    def validate(self, attrs):
        if attrs.get("period"):
            if "period_start" in attrs or "period_end" in attrs:
                raise serializers.ValidationError(
                    {"period": ["Give either period or period_start/period_end, not both."]}
                )
            start, end = selectors.parse_period(attrs["period"])
            return {"period_start": start, "period_end": end}
        missing = [f for f in ("period_start", "period_end") if f not in attrs]
        if missing:
            raise serializers.ValidationError(
                {"period": ["Give period (YYYY-MM) or both period_start and period_end."]}
            )
        if attrs["period_end"] < attrs["period_start"]:
            raise serializers.ValidationError({"period_end": ["The period ends before it starts."]})
        if not (date(2000, 1, 1) <= attrs["period_start"] <= date(2100, 12, 31)):
            raise serializers.ValidationError({"period_start": ["Date out of range."]})
        return attrs


RUN_SUMMARY_FIELDS = [
    "id",
    "period_start",
    "period_end",
    "status",
    "currency",
    "same_as",
    "created_at",
    "started_at",
    "finished_at",
]


class AllocationRunSummarySerializer(serializers.ModelSerializer):
    """A run as anyone sees it: which period ran and how, without organisation-wide figures."""

    class Meta:
        model = AllocationRun
        fields = RUN_SUMMARY_FIELDS
        read_only_fields = fields


class AllocationRunSerializer(serializers.ModelSerializer):
    """A run as finance and auditors see it, with its totals, invariants and error."""

    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = AllocationRun
        fields = [
            "id",
            "period_start",
            "period_end",
            "status",
            "same_as",
            "input_fingerprint",
            "currency",
            "raw_total",
            "allocated_total",
            "unallocated_total",
            "carried_forward_total",
            "coverage",
            "invariants",
            "counts",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class AllocationResultSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="node.name", read_only=True)
    kind = serializers.CharField(source="node.kind", read_only=True)

    class Meta:
        model = AllocationResult
        fields = [
            "node",
            "name",
            "kind",
            "dimension",
            "direct",
            "received",
            "holistic",
            "allocated_out",
            "retained",
            "carried_forward",
        ]
        read_only_fields = fields


class AllocationFlowSerializer(serializers.ModelSerializer):
    from_name = serializers.CharField(source="from_node.name", read_only=True)
    to_name = serializers.CharField(source="to_node.name", read_only=True)

    class Meta:
        model = AllocationFlow
        fields = ["from_node", "from_name", "to_node", "to_name", "dimension", "amount"]
        read_only_fields = fields


# --- report shapes: money leaves as strings, never as JSON numbers ------------------------


def _money(**kwargs) -> serializers.DecimalField:
    # No max_digits: a sum over dimensions may pass a column's digits; it stays exact.
    return serializers.DecimalField(
        max_digits=None,
        decimal_places=AMOUNT_DECIMAL_PLACES,
        coerce_to_string=True,
        read_only=True,
        **kwargs,
    )


class UnallocatedNodeSerializer(serializers.Serializer):
    node = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    kind = serializers.CharField(read_only=True)
    amount = _money()
    carried_forward = _money()


class ReconciliationSerializer(serializers.Serializer):
    run = serializers.IntegerField(read_only=True)
    same_as = serializers.IntegerField(read_only=True, allow_null=True)
    period_start = serializers.DateField(read_only=True)
    period_end = serializers.DateField(read_only=True)
    status = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True)
    raw_infrastructure_cost = _money()
    allocated_to_final_cost_centres = _money()
    unallocated = _money()
    carried_forward = _money()
    carried_in = _money()
    coverage = serializers.DecimalField(
        max_digits=None, decimal_places=6, coerce_to_string=True, read_only=True, allow_null=True
    )
    conservation_delta = _money()
    ledger_balanced = serializers.BooleanField(read_only=True)
    violations = serializers.ListField(child=serializers.CharField(), read_only=True)
    unallocated_by_node = UnallocatedNodeSerializer(many=True, read_only=True)


class _PathStepSerializer(serializers.Serializer):
    node = serializers.IntegerField(read_only=True, allow_null=True)
    name = serializers.CharField(read_only=True)
    kind = serializers.CharField(read_only=True, allow_null=True)


class _PathSerializer(serializers.Serializer):
    dimension = serializers.CharField(read_only=True)
    path = _PathStepSerializer(many=True, read_only=True)
    amount = _money()
    source = serializers.CharField(read_only=True, allow_null=True)


class _DimensionFiguresSerializer(serializers.Serializer):
    dimension = serializers.CharField(read_only=True)
    direct = _money()
    received = _money()
    holistic = _money()
    allocated_out = _money()
    retained = _money()


class ExplanationSerializer(serializers.Serializer):
    run = serializers.IntegerField(read_only=True)
    node = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    kind = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True)
    direct = _money()
    received = _money()
    holistic = _money()
    allocated_out = _money()
    retained = _money()
    by_dimension = _DimensionFiguresSerializer(many=True, read_only=True)
    paths = _PathSerializer(many=True, read_only=True)
