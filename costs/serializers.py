"""Shapes of the costs API. Input serializers validate each field and name it in errors;
the services re-check the rules (they are the single source of truth for writes)."""

import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from costtrack.core.money import (
    CurrencyError,
    check_amount,
    is_known_currency,
    reporting_currency,
)
from costtrack.core.validators import validate_http_url, validate_metadata
from orgunits import selectors as org_selectors
from orgunits.serializers import TagsField, UserSummarySerializer

from .models import Cost, CostCategory, CostEvent, ExchangeRate
from .services.costs import EARLIEST_DAY, FUTURE_DAYS

PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
        "example": "1000.00",
        "description": "A plain decimal (a JSON string, or a JSON number without exponent).",
    }
)
class AmountField(serializers.Field):
    """A Decimal written as a plain decimal (``1000.00``, ``-5``), from a JSON string or number.

    ``1e3``, `` 1 ``, ``+1``, ``NaN`` and ``Infinity`` are refused: an amount is read exactly as
    a person writes it on an invoice. A JSON number keeps the text it was sent as
    (``costtrack.core.parsers.JSONNumber``), so ``1e3`` is refused there too."""

    default_error_messages = {
        "invalid": "Enter a valid decimal amount, a plain decimal like 1000.00.",
        "not_finite": "The amount must be a finite number (not NaN or Infinity); "
        "amounts must be plain decimals like 1000.00.",
        "not_plain": "Amounts must be plain decimals like 1000.00 "
        "(no exponent, spaces or leading plus sign): got '{value}'.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        text = getattr(data, "text", None) or (data if isinstance(data, str) else repr(data))
        if PLAIN_DECIMAL.fullmatch(text):
            return Decimal(text)
        try:
            value = Decimal(text.strip())
        except (InvalidOperation, ValueError):
            self.fail("invalid")
        if not value.is_finite():
            self.fail("not_finite")
        self.fail("not_plain", value=text[:40])

    def to_representation(self, value):
        return str(value)


class MetadataField(serializers.JSONField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            validate_metadata(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


class HttpUrlField(serializers.CharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            validate_http_url(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


@extend_schema_field(
    {"oneOf": [{"type": "integer"}, {"type": "string"}], "description": "Category id or slug."}
)
class CategoryField(serializers.RelatedField):
    """A category by id or slug."""

    default_error_messages = {
        "does_not_exist": 'Invalid pk "{value}" - object does not exist.',
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", CostCategory.objects.all())
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        lookup = {"pk": int(data)} if str(data).isdigit() else {"slug": str(data)}
        category = self.get_queryset().filter(**lookup).first()
        if category is None:
            self.fail("does_not_exist", value=data)
        return category

    def to_representation(self, value):
        return value.pk


def _check_day(value: date | None) -> date | None:
    if value is None:
        return value
    if value < EARLIEST_DAY:
        raise serializers.ValidationError("Enter a date on or after 1970-01-01.")
    if value > timezone.localdate() + timedelta(days=FUTURE_DAYS):
        raise serializers.ValidationError("Enter a date at most one year in the future.")
    return value


class CostInputSerializer(serializers.Serializer):
    """Input of ``POST /costs/`` and of a ``PATCH`` edit (partial)."""

    amount = AmountField()
    currency = serializers.CharField(max_length=8)
    incurred_on = serializers.DateField(required=False)
    period_start = serializers.DateField(required=False, allow_null=True)
    period_end = serializers.DateField(required=False, allow_null=True)
    category = CategoryField(required=False, allow_null=True)
    description = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default=""
    )
    resource = serializers.PrimaryKeyRelatedField(
        queryset=org_selectors.resource_list(user=None), required=False, allow_null=True
    )
    entity = serializers.PrimaryKeyRelatedField(
        queryset=org_selectors.entity_list(user=None), required=False, allow_null=True
    )
    organization_unit = serializers.PrimaryKeyRelatedField(
        queryset=org_selectors.unit_list(user=None), required=False, allow_null=True
    )
    url = HttpUrlField(max_length=2000, required=False, allow_blank=True, default="")
    metadata = MetadataField(required=False, default=dict)
    tags = TagsField(required=False, default=dict)
    kind = serializers.ChoiceField(choices=Cost.Kind.choices, required=False)
    draft = serializers.BooleanField(required=False, default=False)
    override_reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    comment = serializers.CharField(required=False, allow_blank=True, default="")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        user = request.user if request is not None else None
        # Another unit's object is answered exactly like an unknown id.
        self.fields["resource"].queryset = org_selectors.resource_list(user=user)
        self.fields["entity"].queryset = org_selectors.entity_list(user=user)
        self.fields["organization_unit"].queryset = org_selectors.unit_list(user=user)
        if self.partial:
            self.fields.pop("draft")
            for field in self.fields.values():
                field.default = serializers.empty

    def validate_currency(self, value):
        if not is_known_currency(value):
            raise serializers.ValidationError(f"Unknown currency '{value}'.")
        return value.upper()

    def validate_incurred_on(self, value):
        return _check_day(value)

    def validate_period_start(self, value):
        return _check_day(value)

    def validate_period_end(self, value):
        return _check_day(value)

    def validate(self, attrs):
        instance = self.instance
        amount = attrs.get("amount", getattr(instance, "amount", None))
        currency = attrs.get("currency", getattr(instance, "currency", None))
        if amount is not None and currency is not None and ("amount" in attrs or not instance):
            try:
                check_amount(amount, currency)
            except CurrencyError as exc:
                raise serializers.ValidationError({"amount": [str(exc)]}) from None
        kind = attrs.get("kind")
        if amount is not None and amount < 0 and kind == Cost.Kind.CHARGE:
            raise serializers.ValidationError(
                {"amount": ["A charge cannot have a negative amount; record a credit instead."]}
            )
        if amount is not None and amount > 0 and kind == Cost.Kind.CREDIT:
            raise serializers.ValidationError({"amount": ["A credit has a negative amount."]})
        if instance is None:
            if not any(attrs.get(k) for k in ("resource", "entity", "organization_unit")):
                raise serializers.ValidationError(
                    {"organization_unit": ["Give a resource, an entity or an organisation unit."]}
                )
            if not attrs.get("incurred_on") and not attrs.get("period_start"):
                raise serializers.ValidationError(
                    {"incurred_on": ["Enter the day the cost was incurred."]}
                )
        start = attrs.get("period_start", getattr(instance, "period_start", None))
        end = attrs.get("period_end", getattr(instance, "period_end", None))
        if start and end and end < start:
            raise serializers.ValidationError(
                {"period_end": ["The period cannot end before it starts."]}
            )
        if self.partial and instance is not None:
            attrs.pop("kind", None)
        return attrs


class CostActionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class CostSubmitSerializer(CostActionSerializer):
    override_reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class CostVoidSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class CostPatchActionSerializer(CostActionSerializer):
    action = serializers.ChoiceField(choices=["approve", "reject"])


class CostEventSerializer(serializers.ModelSerializer):
    actor = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = CostEvent
        fields = ["id", "action", "from_status", "to_status", "actor", "at", "comment", "changes"]
        read_only_fields = fields


class CostSerializer(serializers.ModelSerializer):
    """Output of a cost (list rows)."""

    amount = serializers.DecimalField(max_digits=20, decimal_places=8, read_only=True)
    category_slug = serializers.CharField(source="category.slug", read_only=True)
    organization_unit_code = serializers.CharField(source="organization_unit.code", read_only=True)
    reporting_currency = serializers.SerializerMethodField()
    submitted_by = UserSummarySerializer(read_only=True)
    approver = UserSummarySerializer(read_only=True, allow_null=True)
    # an http(s) link or "" (a URLField would document every value as a URI)
    url = serializers.CharField(read_only=True, help_text="An http(s) link, or empty.")
    decided_by = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = Cost
        fields = [
            "id",
            "status",
            "kind",
            "amount",
            "currency",
            "amount_reporting",
            "reporting_currency",
            "exchange_rate",
            "incurred_on",
            "period_start",
            "period_end",
            "category",
            "category_slug",
            "description",
            "resource",
            "entity",
            "organization_unit",
            "organization_unit_code",
            "url",
            "metadata",
            "tags",
            "source",
            "submitted_by",
            "submitted_at",
            "approver",
            "decided_by",
            "decided_at",
            "decision_comment",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_reporting_currency(self, obj) -> str:
        return reporting_currency()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # Show the amount with the currency's own number of decimals.
        from costtrack.core.money import round_money

        data["amount"] = str(round_money(instance.amount, instance.currency))
        return data


class CostDetailSerializer(CostSerializer):
    """A cost with its audit trail under ``history``."""

    history = CostEventSerializer(source="events", many=True, read_only=True)

    class Meta(CostSerializer.Meta):
        fields = [*CostSerializer.Meta.fields, "history"]
        read_only_fields = fields


class CostCategorySerializer(serializers.ModelSerializer):
    parent = serializers.PrimaryKeyRelatedField(
        queryset=CostCategory.objects.all(), required=False, allow_null=True
    )
    path = serializers.SerializerMethodField()

    class Meta:
        model = CostCategory
        fields = [
            "id",
            "name",
            "slug",
            "parent",
            "dimension",
            "description",
            "path",
            "level",
            "tree_id",
            "lft",
            "rght",
        ]
        read_only_fields = ["path", "level", "tree_id", "lft", "rght"]
        validators = []

    def get_path(self, obj) -> str:
        paths = self.context.get("category_paths")
        if paths is not None and obj.pk in paths:
            return paths[obj.pk]
        return obj.path


class ExchangeRateSerializer(serializers.ModelSerializer):
    rate = serializers.DecimalField(max_digits=24, decimal_places=12)

    class Meta:
        model = ExchangeRate
        fields = ["id", "date", "currency", "rate", "created_at"]
        read_only_fields = ["created_at"]
        validators = []

    def validate_currency(self, value):
        if not is_known_currency(value):
            raise serializers.ValidationError(f"Unknown currency '{value}'.")
        if value.upper() == reporting_currency():
            raise serializers.ValidationError(
                f"{value.upper()} is the reporting currency; its rate is always 1."
            )
        return value.upper()
