"""Query-parameter serializers for the report endpoints, and the shapes they answer with.

Each endpoint validates its query string here and hands plain values to ``costs.reports``.
A bad parameter is a 400 naming it: ``{"group_by": ["Unknown group_by key 'x' ..."]}``.
"""

from datetime import date

from rest_framework import serializers

from costtrack.core.money import is_known_currency, reporting_currency
from orgunits.models import OrganizationUnit
from orgunits.selectors import unit_is_visible

from . import reports
from .models import CostStatus
from .selectors import SUMMARY_PERIODS, summary_window

STATUS_CHOICES = [CostStatus.APPROVED.value, CostStatus.PENDING.value]


class StatusField(serializers.CharField):
    """``approved`` (default), ``pending`` or ``approved,pending``."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        parts = tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
        bad = [p for p in parts if p not in STATUS_CHOICES]
        if bad or not parts:
            raise serializers.ValidationError(
                f"Use {', '.join(STATUS_CHOICES)} or both, comma-separated."
            )
        return parts


class ReportCurrencyMixin(serializers.Serializer):
    """``currency``: the currency the report's totals are given in (default: reporting)."""

    currency = serializers.CharField(required=False, max_length=8)

    def validate_currency(self, value: str) -> str:
        if not is_known_currency(value):
            raise serializers.ValidationError(f"Unknown currency '{value}'.")
        return value.upper()


class RangeParamsSerializer(ReportCurrencyMixin, serializers.Serializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    organization_unit = serializers.IntegerField(required=False, min_value=1)
    include_descendants = serializers.BooleanField(required=False, default=True)
    status = StatusField(required=False, default=(CostStatus.APPROVED.value,))

    def validate_organization_unit(self, value: int) -> OrganizationUnit:
        unit = OrganizationUnit.objects.filter(pk=value).first()
        user = self.context["request"].user
        if unit is None or not unit_is_visible(user=user, unit=unit):
            raise serializers.ValidationError(f"Unit {value} does not exist.")
        return unit

    def validate(self, attrs):
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and end < start:
            raise serializers.ValidationError({"end": ["The end is before the start."]})
        attrs.setdefault("currency", reporting_currency())
        return attrs

    def selector_filters(self) -> dict:
        d = self.validated_data
        return {
            "start": d.get("start"),
            "end": d.get("end"),
            "unit": d.get("organization_unit"),
            "include_descendants": d["include_descendants"],
            "statuses": d["status"],
        }


class CostReportParamsSerializer(RangeParamsSerializer):
    group_by = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_group_by(self, value: str) -> tuple[str, ...]:
        try:
            return reports.parse_group_by(value)
        except reports.ValidationError as exc:
            raise serializers.ValidationError(exc.message) from None


class SummaryParamsSerializer(RangeParamsSerializer):
    period = serializers.ChoiceField(choices=SUMMARY_PERIODS, required=False)

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs.get("period") and (attrs.get("start") or attrs.get("end")):
            raise serializers.ValidationError(
                {"period": ["Give either period or start/end, not both."]}
            )
        if not attrs.get("period") and bool(attrs.get("start")) != bool(attrs.get("end")):
            missing = "end" if attrs.get("start") else "start"
            raise serializers.ValidationError({missing: ["Give both start and end."]})
        return attrs

    def period_bounds(self) -> tuple[date, date]:
        d = self.validated_data
        if d.get("start"):
            return d["start"], d["end"]
        return summary_window(d.get("period") or "monthly")


class RollupParamsSerializer(ReportCurrencyMixin, serializers.Serializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    status = StatusField(required=False, default=(CostStatus.APPROVED.value,))

    def validate(self, attrs):
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and end < start:
            raise serializers.ValidationError({"end": ["The end is before the start."]})
        attrs.setdefault("currency", reporting_currency())
        return attrs
