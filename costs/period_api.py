"""REST API for recurring cost items and accounting periods (SPEC 3.1).

``/recurring-costs/``: list (``?active=true|false``, ``?period=YYYY-MM``), retrieve, create,
partial update (finance), ``POST /recurring-costs/generate/`` (finance; ``{"until": date}``).
``/periods/``: list (``?status=``), retrieve, create ``{"period": "2025-03"}``,
``POST /periods/{id}/calculate/`` (generate + live totals) and ``POST /periods/{id}/close/``
(queues the ``costs.close_period`` task; 409 listing the pending costs when they hold the
close back). Serializers validate the shape; ``costs.recurring`` / ``costs.periods`` hold
every rule.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from costtrack.core.exceptions import PermissionDenied
from costtrack.core.money import round_money
from costtrack.core.permissions import FinanceManagesOthersRead
from costtrack.core.roles import sees_everything
from orgunits.models import Entity, OrganizationUnit, Resource

from . import periods, recurring
from .models import CostCategory
from .period_models import AccountingPeriod, RecurringCost
from .serializers import AmountField


class RecurringCostSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RecurringCost
        fields = [
            "id",
            "name",
            "amount",
            "currency",
            "cadence",
            "start_date",
            "end_date",
            "category",
            "resource",
            "entity",
            "organization_unit",
            "description",
            "tags",
            "active",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_amount(self, obj) -> str:
        return str(round_money(obj.amount, obj.currency))


class RecurringCostInputSerializer(serializers.Serializer):
    """Input of create and update; the services re-check amounts, dates and targets."""

    name = serializers.CharField(max_length=200)
    amount = AmountField()
    currency = serializers.CharField(max_length=8)
    cadence = serializers.ChoiceField(choices=RecurringCost.Cadence.choices)
    start_date = serializers.DateField()
    end_date = serializers.DateField(required=False, allow_null=True)
    category = serializers.SlugRelatedField(
        slug_field="slug", queryset=CostCategory.objects.all(), required=False, allow_null=True
    )
    resource = serializers.PrimaryKeyRelatedField(
        queryset=Resource.objects.all(), required=False, allow_null=True
    )
    entity = serializers.PrimaryKeyRelatedField(
        queryset=Entity.objects.all(), required=False, allow_null=True
    )
    organization_unit = serializers.PrimaryKeyRelatedField(
        queryset=OrganizationUnit.objects.all(), required=False, allow_null=True
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    tags = serializers.DictField(child=serializers.CharField(), required=False)
    active = serializers.BooleanField(required=False)


class GenerateSerializer(serializers.Serializer):
    until = serializers.DateField(required=False)


class PeriodSerializer(serializers.ModelSerializer):
    period = serializers.CharField(source="label", read_only=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = AccountingPeriod
        fields = [
            "id",
            "period",
            "start",
            "end",
            "status",
            "totals",
            "pending_at_close",
            "closing_started_at",
            "closed_at",
            "closed_by",
        ]
        read_only_fields = fields


class PeriodAdjustmentSerializer(serializers.Serializer):
    import_id = serializers.IntegerField()
    file_name = serializers.CharField()
    role = serializers.CharField(help_text="charge (a restated row) or reversal.")
    booked_on = serializers.DateField()
    currency = serializers.CharField()
    costs = serializers.IntegerField()
    total = serializers.CharField()
    charged_from = serializers.DateField(allow_null=True)
    charged_to = serializers.DateField(allow_null=True)


class PeriodAdjustmentsSerializer(serializers.Serializer):
    period = serializers.CharField()
    count = serializers.IntegerField()
    results = PeriodAdjustmentSerializer(many=True)


class PeriodCreateSerializer(serializers.Serializer):
    period = serializers.RegexField(r"^\d{4}-\d{2}$", help_text="YYYY-MM")


class PeriodCloseSerializer(serializers.Serializer):
    allow_pending = serializers.BooleanField(required=False, allow_null=True, default=None)


class RecurringCostViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Recurring items the user may see; finance creates and changes them."""

    permission_classes = [FinanceManagesOthersRead]
    serializer_class = RecurringCostSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return recurring.recurring_cost_list(user=self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter("active", bool),
            OpenApiParameter("period", str, description="YYYY-MM: items due in that period"),
        ]
    )
    def list(self, request, *args, **kwargs):
        raw = request.query_params.get("active")
        active = None if raw in (None, "") else raw.lower() in ("1", "true", "yes")
        items = recurring.recurring_cost_list(
            user=request.user, active=active, period=request.query_params.get("period") or None
        )
        page = self.paginate_queryset(items)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def get_object(self):
        return recurring.recurring_cost_get(user=self.request.user, pk=int(self.kwargs["pk"]))

    @extend_schema(request=RecurringCostInputSerializer, responses={201: RecurringCostSerializer})
    def create(self, request, *args, **kwargs):
        data = RecurringCostInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = recurring.recurring_cost_create(acting_user=request.user, **data.validated_data)
        return Response(RecurringCostSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RecurringCostInputSerializer, responses=RecurringCostSerializer)
    def partial_update(self, request, *args, **kwargs):
        item = self.get_object()
        data = RecurringCostInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        for fixed in ("cadence", "start_date"):
            if fixed in fields:
                raise serializers.ValidationError(
                    {fixed: ["Cannot change once created; end this item and add a new one."]}
                )
        item = recurring.recurring_cost_update(
            recurring_cost=item, acting_user=request.user, **fields
        )
        return Response(RecurringCostSerializer(item).data)

    @extend_schema(request=GenerateSerializer, responses={200: dict})
    @action(detail=False, methods=["post"])
    def generate(self, request):
        data = GenerateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = recurring.recurring_costs_generate(until=data.validated_data.get("until"))
        return Response(
            {"created": result.created, "existing": result.existing, "errors": result.errors}
        )


class PeriodViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Accounting periods: everyone signed in reads, finance creates, calculates and closes."""

    permission_classes = [FinanceManagesOthersRead]
    serializer_class = PeriodSerializer
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        return periods.period_list(status=self.request.query_params.get("status") or None)

    @extend_schema(request=PeriodCreateSerializer, responses={201: PeriodSerializer})
    def create(self, request, *args, **kwargs):
        data = PeriodCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        period = periods.period_create(
            label=data.validated_data["period"], acting_user=request.user
        )
        return Response(PeriodSerializer(period).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"])
    def calculate(self, request, pk=None):
        calc = periods.period_calculate(period=self.get_object(), acting_user=request.user)
        return Response(
            {
                "period": calc.period.label,
                "generated": calc.generated,
                "errors": calc.errors,
                "totals": calc.totals,
            }
        )

    @extend_schema(request=None, responses={200: PeriodAdjustmentsSerializer})
    @action(detail=True, methods=["get"])
    def adjustments(self, request, pk=None):
        """Imported corrections of this (closed) period, booked in a later open one."""
        if not sees_everything(request.user):
            raise PermissionDenied("Only finance staff and auditors see a period's corrections.")
        from .imports.selectors import period_adjustments

        period = self.get_object()
        rows = period_adjustments(period=period)
        return Response({"period": period.label, "count": len(rows), "results": rows})

    @extend_schema(request=PeriodCloseSerializer, responses={202: PeriodSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        data = PeriodCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        period = self.get_object()
        allow = data.validated_data.get("allow_pending")
        if period.status != AccountingPeriod.Status.CLOSED:
            periods.period_close_check(period=period, allow_pending=allow)
            periods.period_close_enqueue(
                period=period, acting_user=request.user, allow_pending=allow
            )
        period.refresh_from_db()
        return Response(PeriodSerializer(period).data, status=status.HTTP_202_ACCEPTED)
