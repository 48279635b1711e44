"""Input and output shapes of the budgets API. Rules live in ``budgets.services``."""

from django.contrib.auth.models import Group
from rest_framework import serializers

from costs.serializers import AmountField, CategoryField
from costtrack.core.money import is_known_currency, round_money
from orgunits import selectors as org_selectors
from orgunits.serializers import TagsField

from .models import Budget, BudgetAlert, BudgetRevision


class BudgetSerializer(serializers.ModelSerializer):
    """A budget with its utilisation for the current period (``utilization``).

    Writes: ``reason`` is required when ``amount`` changes. Thresholds are fractions of the
    amount in (0, 2] (0.8 is 80 %).
    """

    amount = AmountField()
    organization_unit = serializers.PrimaryKeyRelatedField(
        queryset=org_selectors.unit_list(user=None)
    )
    category = CategoryField(required=False, allow_null=True)
    team = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), required=False, allow_null=True
    )
    tags_filter = TagsField(required=False)
    alert_thresholds = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, allow_empty=True
    )
    reason = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=2000
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    utilization = serializers.SerializerMethodField()

    class Meta:
        model = Budget
        fields = [
            "id",
            "name",
            "slug",
            "amount",
            "currency",
            "period",
            "start_date",
            "end_date",
            "organization_unit",
            "category",
            "tags_filter",
            "team",
            "alert_thresholds",
            "action",
            "include_pending",
            "active",
            "created_by",
            "created_at",
            "updated_at",
            "reason",
            "utilization",
        ]
        read_only_fields = ["slug", "created_by", "created_at", "updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["organization_unit"].queryset = org_selectors.unit_list(user=request.user)

    def validate_currency(self, value):
        if not is_known_currency(value):
            raise serializers.ValidationError(f"Unknown currency '{value}'.")
        return value.upper()

    def get_utilization(self, budget) -> dict:
        utilisations = self.context.get("utilisations") or {}
        util = utilisations.get(budget.pk)
        return util.as_dict() if util is not None else None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["amount"] = str(round_money(instance.amount, instance.currency))
        return data


class BudgetAlertSerializer(serializers.ModelSerializer):
    threshold_pct = serializers.SerializerMethodField()

    class Meta:
        model = BudgetAlert
        fields = [
            "id",
            "budget",
            "kind",
            "threshold",
            "threshold_pct",
            "period_start",
            "period_end",
            "spend",
            "amount",
            "message",
            "created_at",
        ]
        read_only_fields = fields

    def get_threshold_pct(self, alert) -> str:
        return format((alert.threshold * 100).normalize(), "f")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        code = instance.budget.currency
        data["threshold"] = format(instance.threshold.normalize(), "f")
        data["spend"] = str(round_money(instance.spend, code))
        data["amount"] = str(round_money(instance.amount, code))
        return data


class BudgetRevisionSerializer(serializers.ModelSerializer):
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = BudgetRevision
        fields = ["id", "at", "changed_by", "old_amount", "new_amount", "reason"]
        read_only_fields = fields


class UtilizationQuerySerializer(serializers.Serializer):
    on = serializers.DateField(required=False)


class BudgetCheckSerializer(serializers.Serializer):
    """``POST /budgets/check/``: could this amount be spent?"""

    amount = AmountField()
    currency = serializers.CharField(max_length=8)
    organization_unit = serializers.PrimaryKeyRelatedField(
        queryset=org_selectors.unit_list(user=None)
    )
    category = CategoryField(required=False, allow_null=True)
    tags = TagsField(required=False, default=dict)
    incurred_on = serializers.DateField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["organization_unit"].queryset = org_selectors.unit_list(user=request.user)

    def validate_currency(self, value):
        if not is_known_currency(value):
            raise serializers.ValidationError(f"Unknown currency '{value}'.")
        return value.upper()


class _ConversionErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    currency = serializers.CharField()
    first_day = serializers.DateField()
    message = serializers.CharField()


def _figure(help_text: str):
    return serializers.CharField(allow_null=True, help_text=help_text + " A plain decimal.")


class UtilizationSerializer(serializers.Serializer):
    """The answer of ``GET /budgets/{id}/utilization/`` (documentation only): the figures of
    one period in the budget's currency, ``null`` when some spend cannot be converted."""

    budget_id = serializers.IntegerField()
    name = serializers.CharField()
    period_start = serializers.CharField(help_text="The period's first day (or hour).")
    period_end = serializers.CharField(help_text="The period's last day (or hour).")
    currency = serializers.CharField()
    amount = serializers.CharField(help_text="A plain decimal.")
    actual = _figure("Approved spend.")
    committed = _figure("Pending spend.")
    spent = _figure("What counts against the budget.")
    remaining = _figure("Amount minus spent.")
    utilization_pct = _figure("Spent as a percentage of the amount.")
    forecast = _figure("Spent extrapolated to the period's end, null when too early.")
    forecast_pct = _figure("The forecast as a percentage of the amount.")
    elapsed_pct = serializers.CharField(help_text="Share of the period elapsed, in %.")
    conversion_error = _ConversionErrorSerializer(allow_null=True)
