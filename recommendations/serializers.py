"""Serializers of recommendations: query parameters, shapes, the dismissal body."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from costtrack.core.money import round_money

from .models import Kind, Recommendation, RecommendationEvent, Status
from .selectors import recommendation_may_manage


@extend_schema_field({"type": "string", "nullable": True})
class MoneyText(serializers.Field):
    """Money rounded to the currency's minor unit, as an exact decimal string."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        return (getattr(instance, self.source), instance.currency)

    def to_representation(self, value):
        amount, currency = value
        return None if amount is None else str(round_money(amount, currency))


class RecommendationQuerySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    status = serializers.ChoiceField(choices=Status.choices, required=False)


class RecommendationSerializer(serializers.ModelSerializer):
    amount = MoneyText()
    dismissed_amount = MoneyText()
    organization_unit_name = serializers.SerializerMethodField()
    may_dismiss = serializers.SerializerMethodField()

    class Meta:
        model = Recommendation
        fields = [
            "id",
            "kind",
            "key",
            "title",
            "organization_unit",
            "organization_unit_name",
            "amount",
            "currency",
            "evidence",
            "link",
            "status",
            "dismissed_amount",
            "computed_at",
            "opened_at",
            "resolved_at",
            "may_dismiss",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True})
    def get_organization_unit_name(self, obj) -> str | None:
        return obj.organization_unit.name if obj.organization_unit_id else None

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_may_dismiss(self, obj) -> bool:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return obj.status == Status.OPEN and recommendation_may_manage(
            user=user, recommendation=obj
        )


class RecommendationEventSerializer(serializers.ModelSerializer):
    actor_username = serializers.SerializerMethodField()
    amount = serializers.SerializerMethodField()

    class Meta:
        model = RecommendationEvent
        fields = ["action", "actor", "actor_username", "reason", "amount", "created_at"]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "nullable": True})
    def get_actor_username(self, obj) -> str | None:
        return obj.actor.get_username() if obj.actor_id else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_amount(self, obj) -> str:
        return str(round_money(obj.amount, obj.recommendation.currency))


class RecommendationDetailSerializer(RecommendationSerializer):
    events = serializers.SerializerMethodField()

    class Meta(RecommendationSerializer.Meta):
        fields = [*RecommendationSerializer.Meta.fields, "events"]
        read_only_fields = fields

    @extend_schema_field(RecommendationEventSerializer(many=True))
    def get_events(self, obj) -> list:
        from .selectors import recommendation_events

        return RecommendationEventSerializer(
            recommendation_events(recommendation=obj), many=True
        ).data


class DismissSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, trim_whitespace=True)


class ComputeQueuedSerializer(serializers.Serializer):
    job = serializers.IntegerField()
