"""REST API for budgets (SPEC 3.1): views validate, then call a service or a selector."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from costs.services.categories import category_default
from costtrack.core.permissions import FinanceManagesOthersRead

from . import enforcement, selectors, services
from .serializers import (
    BudgetAlertSerializer,
    BudgetCheckSerializer,
    BudgetRevisionSerializer,
    BudgetSerializer,
    UtilizationQuerySerializer,
    UtilizationSerializer,
)


def _with_utilisations(serializer_class, budgets, *, context, many=True):
    budgets = list(budgets) if many else [budgets]
    context = {**context, "utilisations": selectors.budget_utilisations(budgets)}
    return serializer_class(budgets if many else budgets[0], many=many, context=context)


class BudgetViewSet(viewsets.ModelViewSet):
    """Budgets with their current utilisation. Finance creates, changes and deletes; unit
    owners and members read their units' budgets (another unit's budget is 404)."""

    serializer_class = BudgetSerializer
    permission_classes = [FinanceManagesOthersRead]
    filterset_fields = ["organization_unit", "period", "action", "active", "currency"]
    ordering_fields = ["name", "amount", "created_at"]

    def get_permissions(self):
        if self.action == "check":
            return [IsAuthenticated()]
        return super().get_permissions()

    def get_queryset(self):
        return selectors.budget_list(user=self.request.user)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        serializer = _with_utilisations(
            BudgetSerializer, page, context=self.get_serializer_context()
        )
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request, *args, **kwargs):
        serializer = _with_utilisations(
            BudgetSerializer, self.get_object(), context=self.get_serializer_context(), many=False
        )
        return Response(serializer.data)

    def _respond(self, budget, code=status.HTTP_200_OK):
        budget = selectors.budget_list(user=self.request.user).get(pk=budget.pk)
        serializer = _with_utilisations(
            BudgetSerializer, budget, context=self.get_serializer_context(), many=False
        )
        return Response(serializer.data, status=code)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("reason", None)
        budget = services.budget_create(**data, acting_user=request.user)
        return self._respond(budget, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        budget = self.get_object()
        serializer = self.get_serializer(budget, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        reason = data.pop("reason", "")
        budget = services.budget_update(
            budget=budget, acting_user=request.user, reason=reason, **data
        )
        return self._respond(budget)

    def destroy(self, request, *args, **kwargs):
        services.budget_delete(budget=self.get_object(), acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[OpenApiParameter("on", str, description="A day (YYYY-MM-DD) in the period.")],
        responses={200: UtilizationSerializer},
    )
    @action(detail=True, methods=["get"])
    def utilization(self, request, pk=None):
        """Actual, committed, remaining, utilisation % and forecast for the period containing
        ``on`` (default today)."""
        query = UtilizationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        budget = self.get_object()
        util = selectors.budget_utilization(budget, on=query.validated_data.get("on"))
        return Response({"budget_id": budget.pk, "name": budget.name, **util.as_dict()})

    @extend_schema(responses={200: BudgetAlertSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def alerts(self, request, pk=None):
        """Alerts the budget has fired: threshold, kind (actual/forecast), period, spend."""
        budget = self.get_object()
        alerts = selectors.budget_alert_list(budget=budget).select_related("budget")
        page = self.paginate_queryset(alerts)
        return self.get_paginated_response(BudgetAlertSerializer(page, many=True).data)

    @extend_schema(responses={200: BudgetRevisionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def revisions(self, request, pk=None):
        """Every change of the amount: who, when, old, new, why."""
        budget = self.get_object()
        page = self.paginate_queryset(selectors.budget_revision_list(budget=budget))
        return self.get_paginated_response(BudgetRevisionSerializer(page, many=True).data)

    @extend_schema(request=BudgetCheckSerializer, responses={200: dict})
    @action(detail=False, methods=["post"])
    def check(self, request):
        """Could this amount be spent? ``allowed`` overall and an answer per matching budget.
        Nothing is written or locked."""
        serializer = BudgetCheckSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        answer = enforcement.check_spend(
            amount=data["amount"],
            currency=data["currency"],
            unit=data["organization_unit"],
            category=data.get("category") or category_default(),
            tags=data.get("tags") or {},
            submitter_id=request.user.pk,
            day=data.get("incurred_on"),
        )
        return Response(answer)


class MyBudgetsView(generics.ListAPIView):
    """``GET /users/me/budgets/``: active budgets of the units I belong to or own (and their
    ancestors) and of my teams, with utilisation."""

    serializer_class = BudgetSerializer

    def get_queryset(self):
        return selectors.my_budgets(user=self.request.user)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        serializer = _with_utilisations(
            BudgetSerializer, page, context=self.get_serializer_context()
        )
        return self.get_paginated_response(serializer.data)
