"""REST API for costs, categories and exchange rates (SPEC 3.1). Views validate input with a
serializer, then call a service or a selector; the services hold every rule."""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response

from costtrack.core.pagination import CursorOrLimitOffsetPagination
from costtrack.core.permissions import FinanceManagesOthersRead

from . import selectors, services
from .export import CostCSVRenderer, cost_csv_response
from .filters import CostCategoryFilter, CostFilter, ExchangeRateFilter
from .models import Cost, CostEvent
from .serializers import (
    CostActionSerializer,
    CostCategorySerializer,
    CostDetailSerializer,
    CostInputSerializer,
    CostPatchActionSerializer,
    CostSerializer,
    CostSubmitSerializer,
    CostVoidSerializer,
    ExchangeRateSerializer,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="A retried create with the same key returns the first cost (200).",
)


class CostViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Costs the requesting user may see. Writes go through ``costs.services``.

    ``POST`` creates a pending cost (or a draft with ``"draft": true``) and answers 201 with
    the cost and ``warnings``; ``PATCH`` edits a draft/pending cost or, with
    ``{"action": "approve"|"reject", "comment": ...}``, decides it; ``DELETE`` cancels a
    draft, pending or rejected cost (409 for an approved one). Another unit's cost is 404.
    """

    filterset_class = CostFilter
    pagination_class = CursorOrLimitOffsetPagination
    ordering_fields = [
        "incurred_on",
        "amount",
        "amount_reporting",
        "created_at",
        "submitted_at",
        "decided_at",
        "status",
        "id",
    ]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CostCSVRenderer]

    # beside the filters: the ordering, the renderer, and both kinds of pages
    LIST_PARAMETERS = frozenset({"ordering", "format", "cursor", "limit", "offset"})

    def list(self, request, *args, **kwargs):
        # A misspelt filter would otherwise be ignored and answer (or export) every cost.
        unknown = sorted(
            set(request.query_params) - self.LIST_PARAMETERS - set(CostFilter.base_filters)
        )
        if unknown:
            raise ValidationError(
                {name: ["Unknown query parameter of the cost list."] for name in unknown}
            )
        if getattr(request.accepted_renderer, "format", None) == "csv":
            # every matching cost, not one page (see costs.export)
            return cost_csv_response(self.filter_queryset(self.get_queryset()))
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        qs = selectors.cost_list(user=self.request.user)
        if self.action == "retrieve":
            qs = qs.prefetch_related(
                Prefetch(
                    "events",
                    queryset=CostEvent.objects.select_related("actor").order_by("at", "id"),
                )
            )
        return qs

    def get_serializer_class(self):
        if self.action == "retrieve":
            return CostDetailSerializer
        if self.action in ("create", "partial_update"):
            return CostInputSerializer
        return CostSerializer

    def _detail(self, cost: Cost, *, warnings=None, code=status.HTTP_200_OK) -> Response:
        cost = (
            self.get_queryset()
            .filter(pk=cost.pk)
            .prefetch_related(
                Prefetch(
                    "events",
                    queryset=CostEvent.objects.select_related("actor").order_by("at", "id"),
                )
            )
            .first()
            or cost
        )
        data = CostDetailSerializer(cost, context=self.get_serializer_context()).data
        if warnings is not None:
            data["warnings"] = warnings
        return Response(data, status=code)

    @extend_schema(
        request=CostInputSerializer,
        responses={201: CostDetailSerializer, 200: CostDetailSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def create(self, request, *args, **kwargs):
        serializer = CostInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        result = services.cost_create(
            submitted_by=request.user,
            source=Cost.Source.API,
            idempotency_key=request.headers.get("Idempotency-Key") or None,
            **data,
        )
        return self._detail(
            result.cost,
            warnings=result.warnings,
            code=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    @extend_schema(request=CostInputSerializer, responses={200: CostDetailSerializer})
    def partial_update(self, request, *args, **kwargs):
        cost = self.get_object()
        if "action" in request.data:
            action_serializer = CostPatchActionSerializer(data=request.data)
            action_serializer.is_valid(raise_exception=True)
            decide = (
                services.cost_approve
                if action_serializer.validated_data["action"] == "approve"
                else services.cost_reject
            )
            cost = decide(
                cost=cost,
                acting_user=request.user,
                comment=action_serializer.validated_data["comment"],
            )
            return self._detail(cost)
        serializer = CostInputSerializer(
            cost, data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        comment = fields.pop("comment", "")
        override_reason = fields.pop("override_reason", None)
        result = services.cost_update(
            cost=cost,
            acting_user=request.user,
            comment=comment,
            override_reason=override_reason,
            **fields,
        )
        return self._detail(result.cost, warnings=result.warnings)

    @extend_schema(request=CostActionSerializer, responses={200: CostDetailSerializer})
    def destroy(self, request, *args, **kwargs):
        comment = request.data.get("comment", "") if hasattr(request.data, "get") else ""
        cost = services.cost_cancel(
            cost=self.get_object(), acting_user=request.user, comment=str(comment or "")
        )
        return self._detail(cost)

    def _action(self, request, service, serializer_class=CostActionSerializer):
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return service(
            cost=self.get_object(), acting_user=request.user, **serializer.validated_data
        )

    @extend_schema(request=CostSubmitSerializer, responses={200: CostDetailSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        # ``override_reason``: finance lets the approval past a budget block, as on submit.
        return self._detail(self._action(request, services.cost_approve, CostSubmitSerializer))

    @extend_schema(request=CostActionSerializer, responses={200: CostDetailSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._detail(self._action(request, services.cost_reject))

    @extend_schema(request=CostSubmitSerializer, responses={200: CostDetailSerializer})
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        result = self._action(request, services.cost_submit, CostSubmitSerializer)
        return self._detail(result.cost, warnings=result.warnings)

    @extend_schema(request=CostActionSerializer, responses={200: CostDetailSerializer})
    @action(detail=True, methods=["post"])
    def revise(self, request, pk=None):
        return self._detail(self._action(request, services.cost_revise))

    @extend_schema(request=CostActionSerializer, responses={200: CostDetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._detail(self._action(request, services.cost_cancel))

    @extend_schema(request=CostVoidSerializer, responses={200: CostDetailSerializer})
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        return self._detail(self._action(request, services.cost_void, CostVoidSerializer))


class CostCategoryViewSet(viewsets.ModelViewSet):
    """The category tree: everyone reads, finance writes. ``path`` is the full name."""

    serializer_class = CostCategorySerializer
    permission_classes = [FinanceManagesOthersRead]
    filterset_class = CostCategoryFilter
    ordering_fields = ["name", "slug", "lft"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.category_list()

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["category_paths"] = selectors.category_paths()
        return context

    def perform_create(self, serializer):
        serializer.instance = services.category_create(
            **serializer.validated_data, acting_user=self.request.user
        )

    def perform_update(self, serializer):
        serializer.instance = services.category_update(
            category=serializer.instance, **serializer.validated_data, acting_user=self.request.user
        )
        serializer.context["category_paths"] = selectors.category_paths()

    def perform_destroy(self, instance):
        services.category_delete(category=instance, acting_user=self.request.user)


class ExchangeRateViewSet(viewsets.ModelViewSet):
    """Exchange rates to the reporting currency: everyone reads, finance writes. A change
    schedules the reconversion of the affected costs."""

    serializer_class = ExchangeRateSerializer
    permission_classes = [FinanceManagesOthersRead]
    filterset_class = ExchangeRateFilter
    ordering_fields = ["date", "currency"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.exchange_rate_list()

    def perform_create(self, serializer):
        serializer.instance = services.exchange_rate_set(
            **serializer.validated_data, acting_user=self.request.user
        )

    def perform_update(self, serializer):
        serializer.instance = services.exchange_rate_update(
            exchange_rate=serializer.instance,
            **serializer.validated_data,
            acting_user=self.request.user,
        )

    def perform_destroy(self, instance):
        services.exchange_rate_delete(exchange_rate=instance, acting_user=self.request.user)
