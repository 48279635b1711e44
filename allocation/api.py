"""REST API of the allocation app (SPEC 3.1). Views validate, then call a service or selector.

Finance and auditors read everything; anyone else reads the nodes of their units and what
the runs gave those nodes (``allocation.selectors``), and a node of another unit is a 404.
Only finance changes the graph, records usage or starts a run. Money leaves as strings.
"""

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response

from costs.report_api import CSVRenderer
from costtrack.core.exceptions import Conflict, NotFound, ValidationError
from costtrack.core.permissions import FinanceManagesOthersRead

from . import economics, selectors, services
from .economics_serializers import (
    ProductPnlSerializer,
    UnitCostParamsSerializer,
    UnitCostsSerializer,
    UnitCostTrendSerializer,
)
from .models import CostNode
from .serializers import (
    AllocationEdgeSerializer,
    AllocationFlowSerializer,
    AllocationResultSerializer,
    AllocationRunSerializer,
    AllocationRunSummarySerializer,
    CostNodeSerializer,
    ExplanationSerializer,
    ReconciliationSerializer,
    RunRequestSerializer,
    UsageRecordSerializer,
)


def _run_from_query(request):
    run_id = request.query_params.get("run")
    if run_id:
        return selectors.run_get(run_id=run_id, user=request.user)
    run = selectors.latest_run(user=request.user)
    if run is None:
        raise NotFound("No allocation run has succeeded yet.")
    return run


class CostNodeViewSet(viewsets.ModelViewSet):
    serializer_class = CostNodeSerializer
    permission_classes = [FinanceManagesOthersRead]
    filterset_fields = ["kind"]
    ordering_fields = ["name", "kind", "created_at"]

    def get_queryset(self):
        return selectors.node_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.node_create(
            **serializer.validated_data, acting_user=self.request.user
        )

    def perform_update(self, serializer):
        serializer.instance = services.node_update(
            node=serializer.instance, **serializer.validated_data, acting_user=self.request.user
        )

    def perform_destroy(self, instance):
        services.node_delete(node=instance, acting_user=self.request.user)

    @extend_schema(
        parameters=[OpenApiParameter("run", int, description="Run id (default: the latest).")],
        responses={200: ExplanationSerializer},
    )
    @action(detail=True, methods=["get"])
    def explain(self, request, pk=None):
        """The paths and amounts by which this node got its cost in a run."""
        node = self.get_object()
        run = _run_from_query(request)
        return Response(ExplanationSerializer(selectors.explain_node(run=run, node=node)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("metric", str, description="A usage metric (default: every one)."),
            OpenApiParameter("per", int, description="Units per figure (default 1,000 for "
                             "requests, queries and api_calls, else 1)."),
            OpenApiParameter("months", int, description="Months in the trend (1-36, 12)."),
            OpenApiParameter("end", str, description="Last month, YYYY-MM (default: the latest "
                             "run's)."),
        ],
        responses={200: UnitCostTrendSerializer},
    )  # fmt: skip
    @action(detail=True, methods=["get"], url_path="unit-economics")
    def unit_economics(self, request, pk=None):
        """A product's cost and cost per unit of usage month by month (its holistic cost in
        the latest successful run of each calendar month over its usage of the metric)."""
        node = self.get_object()
        if node.kind != CostNode.Kind.PRODUCT:
            raise ValidationError("Unit economics are figures of products.", field="node")
        params = UnitCostParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        d = params.validated_data
        trend = economics.unit_cost_trend(
            node=node, metric=d.get("metric"), per=d.get("per"), months=d["months"],
            end=d.get("end"),
        )  # fmt: skip
        return Response(UnitCostTrendSerializer(trend).data)


class AllocationEdgeViewSet(viewsets.ModelViewSet):
    serializer_class = AllocationEdgeSerializer
    permission_classes = [FinanceManagesOthersRead]
    filterset_fields = ["parent", "child", "strategy"]
    ordering_fields = ["parent", "child", "created_at"]

    def get_queryset(self):
        return selectors.edge_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.edge_create(
            **serializer.validated_data, acting_user=self.request.user
        )

    def perform_update(self, serializer):
        serializer.instance = services.edge_update(
            edge=serializer.instance, **serializer.validated_data, acting_user=self.request.user
        )

    def perform_destroy(self, instance):
        services.edge_delete(edge=instance, acting_user=self.request.user)


class UsageRecordViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = UsageRecordSerializer
    permission_classes = [FinanceManagesOthersRead]
    filterset_fields = ["node", "metric", "date", "dimension"]
    ordering_fields = ["date", "node", "metric"]

    def get_queryset(self):
        return selectors.usage_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.usage_record_create(
            **serializer.validated_data, acting_user=self.request.user
        )


class AllocationRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = AllocationRunSerializer
    permission_classes = [FinanceManagesOthersRead]
    filterset_fields = ["status", "period_start", "period_end"]
    ordering_fields = ["period_start", "created_at"]

    def get_queryset(self):
        return selectors.run_list(user=self.request.user)

    def get_serializer_class(self):
        if selectors.sees_all_nodes(self.request.user):
            return AllocationRunSerializer
        return AllocationRunSummarySerializer

    @extend_schema(
        request=RunRequestSerializer,
        responses={200: AllocationRunSerializer, 202: AllocationRunSerializer},
    )
    def create(self, request):
        """Run a period: 202 with the queued run, or 200 with the run of the period that is
        already pending or running. The run computes in the background; a run whose inputs
        are unchanged since an earlier run of the period finishes with ``same_as`` set to
        it."""
        params = RunRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        run, queued = services.allocation_run_request(
            **params.validated_data, acting_user=request.user
        )
        run.refresh_from_db()
        return Response(
            self.get_serializer(run).data,
            status=status.HTTP_202_ACCEPTED if queued else status.HTTP_200_OK,
        )

    def _page(self, queryset, serializer_class):
        page = self.paginate_queryset(queryset)
        data = serializer_class(page, many=True).data
        return self.get_paginated_response(data)

    @extend_schema(
        responses={200: AllocationResultSerializer(many=True)},
        parameters=[
            OpenApiParameter("node", int),
            OpenApiParameter("dimension", str),
            OpenApiParameter("kind", str),
        ],
    )
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        run = self.get_object()
        qs = selectors.run_results(run=run, user=request.user)
        qs = self._filter(qs, request, node="node_id", dimension="dimension", kind="node__kind")
        return self._page(qs, AllocationResultSerializer)

    @extend_schema(
        responses={200: AllocationFlowSerializer(many=True)},
        parameters=[
            OpenApiParameter("node", int, description="Flows from or to this node."),
            OpenApiParameter("from_node", int),
            OpenApiParameter("to_node", int),
            OpenApiParameter("dimension", str),
        ],
    )
    @action(detail=True, methods=["get"])
    def flows(self, request, pk=None):
        run = self.get_object()
        qs = selectors.run_flows(run=run, user=request.user)
        qs = self._filter(
            qs, request, from_node="from_node_id", to_node="to_node_id", dimension="dimension"
        )
        node = request.query_params.get("node")
        if node:
            node_id = self._int(node, "node")
            qs = qs.filter(Q(from_node_id=node_id) | Q(to_node_id=node_id))
        return self._page(qs, AllocationFlowSerializer)

    @extend_schema(responses={200: ReconciliationSerializer})
    @action(detail=True, methods=["get"])
    def reconciliation(self, request, pk=None):
        """Raw infrastructure cost, allocated to final cost centres, unallocated, coverage,
        conservation delta and violations (finance and auditors)."""
        report = selectors.reconciliation(run=self.get_object(), user=request.user)
        return Response(ReconciliationSerializer(report).data)

    @staticmethod
    def _succeeded(run):
        if run.status != run.Status.SUCCEEDED:
            raise Conflict(
                f"Run #{run.pk} is {run.status}: only a successful run has figures.",
                code="run_not_succeeded",
            )
        return run

    @extend_schema(responses={200: ProductPnlSerializer})
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[JSONRenderer, BrowsableAPIRenderer, CSVRenderer],
    )
    def pnl(self, request, pk=None):
        """The product P&L of the run's period: revenue, direct, allocated and holistic
        cost, gross margin and margin % per product and rolled up the product tree, in the
        run's currency; ``?format=csv`` (or ``Accept: text/csv``) for one row per product
        and a total. Only the products you see."""
        run = self._succeeded(self.get_object())
        report = ProductPnlSerializer(economics.product_pnl(run=run, user=request.user)).data
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return Response(economics.product_pnl_rows(report))
        return Response(report)

    @extend_schema(
        parameters=[
            OpenApiParameter("metric", str, required=True, description="A usage metric."),
            OpenApiParameter("per", int, description="Units per figure (default 1,000 for "
                             "requests, queries and api_calls, else 1)."),
        ],
        responses={200: UnitCostsSerializer},
    )  # fmt: skip
    @action(
        detail=True,
        methods=["get"],
        url_path="unit-economics",
        renderer_classes=[JSONRenderer, BrowsableAPIRenderer, CSVRenderer],
    )
    def unit_economics(self, request, pk=None):
        """Each product's holistic cost in the run, its usage of ``metric`` in the period and
        the cost per ``per`` units (CSV too). Only the products you see."""
        run = self._succeeded(self.get_object())
        params = UnitCostParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        if not params.validated_data.get("metric"):
            raise ValidationError("Give the usage metric, e.g. ?metric=requests.", field="metric")
        report = UnitCostsSerializer(
            economics.unit_costs(
                run=run,
                metric=params.validated_data["metric"],
                per=params.validated_data.get("per"),
                user=request.user,
            )
        ).data
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return Response(
                [
                    {**row, "metric": report["metric"], "per": report["per"],
                     "currency": report["currency"]}
                    for row in report["results"]
                ]
            )  # fmt: skip
        return Response(report)

    @staticmethod
    def _int(value, name):
        try:
            return int(value)
        except ValueError:
            raise ValidationError(f"'{name}' must be an id.", field=name) from None

    def _filter(self, qs, request, **fields):
        for param, lookup in fields.items():
            value = request.query_params.get(param)
            if value:
                if lookup.endswith("_id"):
                    value = self._int(value, param)
                qs = qs.filter(**{lookup: value})
        return qs

    def filter_queryset(self, queryset):
        if self.action in ("results", "flows", "pnl", "unit_economics"):
            return queryset
        return super().filter_queryset(queryset)
