"""Serializers of revenue, the product P&L and unit economics: validation and shapes only."""

from datetime import date

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from costs.serializers import AmountField
from costtrack.core.exceptions import ValidationError as AppValidationError
from costtrack.core.money import reporting_currency, round_money

from . import selectors
from .models import CostNode, Revenue
from .services import parse_revenue_date


@extend_schema_field(OpenApiTypes.STR)
class DecimalText(serializers.Field):
    """A figure the selector already rounded (money in the currency's minor unit, a
    percentage, a unit cost), written as the exact decimal string it is; ``None`` stays."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return None if value is None else str(value)


def _money(**kwargs) -> DecimalText:
    return DecimalText(**kwargs)


class QuantityText(DecimalText):
    """A quantity of usage without trailing zeros: ``400000``, ``12.5``."""

    def to_representation(self, value):
        return None if value is None else f"{value.normalize():f}"


class RevenueDateField(serializers.CharField):
    """``2025-03-14`` (a day) or ``2025-03`` (a month); read back as the ISO day."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return parse_revenue_date(text)
        except AppValidationError as exc:
            raise serializers.ValidationError(exc.message) from None

    def to_representation(self, value):
        return value.isoformat() if isinstance(value, date) else str(value)


class RevenueSerializer(serializers.ModelSerializer):
    """A product's revenue for a day or a month. ``date`` takes ``YYYY-MM-DD`` (grain day)
    or ``YYYY-MM`` (grain month, stored on the first of the month). Writing the (node,
    date, grain) of an existing row replaces its amount and currency (200)."""

    node = serializers.PrimaryKeyRelatedField(
        queryset=CostNode.objects.filter(kind=CostNode.Kind.PRODUCT)
    )
    node_name = serializers.CharField(source="node.name", read_only=True)
    date = RevenueDateField(max_length=10)
    grain = serializers.ChoiceField(choices=Revenue.Grain.choices, required=False)
    amount = AmountField()
    currency = serializers.CharField(max_length=8, required=False)
    amount_reporting = _money()
    exchange_rate = serializers.DecimalField(
        max_digits=24, decimal_places=12, coerce_to_string=True, read_only=True
    )
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = Revenue
        fields = [
            "id",
            "node",
            "node_name",
            "date",
            "grain",
            "amount",
            "currency",
            "amount_reporting",
            "exchange_rate",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # the service replaces a row of the same (node, date, grain)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["node"].queryset = selectors.node_list(user=request.user).filter(
                kind=CostNode.Kind.PRODUCT
            )

    def validate(self, attrs):
        if "date" in attrs:
            day, parsed_grain = attrs.pop("date")
            grain = attrs.get("grain")
            if parsed_grain == Revenue.Grain.MONTH and grain == Revenue.Grain.DAY:
                raise serializers.ValidationError(
                    {"grain": ["A month (YYYY-MM) has grain month; give a day for grain day."]}
                )
            attrs["date"] = day
            attrs["grain"] = grain or parsed_grain
        return attrs

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["amount"] = str(round_money(instance.amount, instance.currency))
        data["amount_reporting"] = str(round_money(instance.amount_reporting, reporting_currency()))
        return data


class UnitCostParamsSerializer(serializers.Serializer):
    """``?metric=requests&per=1000``; on a node also ``months`` and ``end`` (YYYY-MM)."""

    metric = serializers.CharField(max_length=64, required=False)
    per = serializers.IntegerField(min_value=1, max_value=10**9, required=False)
    months = serializers.IntegerField(min_value=1, max_value=36, required=False, default=12)
    end = serializers.CharField(max_length=7, required=False)

    def validate_end(self, value):
        start, _ = selectors.parse_period(value)
        return start


class _FiguresSerializer(serializers.Serializer):
    revenue = _money()
    direct_cost = _money()
    allocated_cost = _money()
    holistic_cost = _money()
    gross_margin = _money()
    margin_pct = DecimalText(allow_null=True)


class _ProductLineSerializer(serializers.Serializer):
    node = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    parent_product = serializers.IntegerField(read_only=True, allow_null=True)
    depth = serializers.IntegerField(read_only=True)
    children = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    final_cost_centre = serializers.BooleanField(read_only=True)
    passed_on = _money()
    own = _FiguresSerializer(read_only=True)
    rolled_up = _FiguresSerializer(read_only=True)


class ProductPnlSerializer(serializers.Serializer):
    run = serializers.IntegerField(read_only=True)
    period_start = serializers.DateField(read_only=True)
    period_end = serializers.DateField(read_only=True)
    currency = serializers.CharField(read_only=True)
    products = _ProductLineSerializer(many=True, read_only=True)
    totals = _FiguresSerializer(read_only=True)


class _UnitCostRowSerializer(serializers.Serializer):
    node = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    cost = _money()
    quantity = QuantityText()
    cost_per_unit = DecimalText(allow_null=True)


class UnitCostsSerializer(serializers.Serializer):
    run = serializers.IntegerField(read_only=True)
    period_start = serializers.DateField(read_only=True)
    period_end = serializers.DateField(read_only=True)
    currency = serializers.CharField(read_only=True)
    metric = serializers.CharField(read_only=True)
    per = serializers.IntegerField(read_only=True)
    label = serializers.CharField(read_only=True)
    results = _UnitCostRowSerializer(many=True, read_only=True)


class _MonthCostSerializer(serializers.Serializer):
    month = serializers.CharField(read_only=True)
    run = serializers.IntegerField(read_only=True, allow_null=True)
    cost = _money(allow_null=True)


class _UnitCostPointSerializer(_MonthCostSerializer):
    quantity = QuantityText()
    cost_per_unit = DecimalText(allow_null=True)


class _UnitCostSeriesSerializer(serializers.Serializer):
    metric = serializers.CharField(read_only=True)
    per = serializers.IntegerField(read_only=True)
    label = serializers.CharField(read_only=True)
    points = _UnitCostPointSerializer(many=True, read_only=True)


class UnitCostTrendSerializer(serializers.Serializer):
    node = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True, allow_null=True)
    months = _MonthCostSerializer(many=True, read_only=True)
    metrics = _UnitCostSeriesSerializer(many=True, read_only=True)
