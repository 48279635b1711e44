"""REST API of product revenue (``/api/v1/revenue/``).

Finance records, corrects and deletes revenue; anyone else reads the revenue of the product
nodes they see, and another unit's revenue is a 404.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from costtrack.core.permissions import FinanceManagesOthersRead

from . import economics, services
from .economics_serializers import RevenueSerializer


class RevenueViewSet(viewsets.ModelViewSet):
    """Revenue of product nodes per day or month, in its own currency and in the reporting
    currency. ``POST`` with the (node, date, grain) of an existing row replaces its figure
    (200); a new key is created (201)."""

    serializer_class = RevenueSerializer
    permission_classes = [FinanceManagesOthersRead]
    filterset_fields = {"node": ["exact"], "grain": ["exact"], "date": ["exact", "gte", "lte"]}
    ordering_fields = ["date", "node", "amount_reporting"]

    def get_queryset(self):
        return economics.revenue_list(user=self.request.user)

    @extend_schema(responses={200: RevenueSerializer, 201: RevenueSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        existed = (
            economics.revenue_list(user=None)
            .filter(node=data["node"], date=data["date"], grain=data["grain"])
            .exists()
        )
        row = services.revenue_set(**data, acting_user=request.user)
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(self.get_serializer(row).data, status=code)

    def perform_update(self, serializer):
        serializer.instance = services.revenue_update(
            revenue=serializer.instance, **serializer.validated_data, acting_user=self.request.user
        )

    def perform_destroy(self, instance):
        services.revenue_delete(revenue=instance, acting_user=self.request.user)
