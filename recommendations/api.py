"""REST API of recommendations: list (``?kind=&status=``), detail with its audit events,
dismiss with a reason, and a recomputation on the workers (finance).

Scoped by ``recommendations.selectors``: another unit's recommendation is a 404; dismissing
one of a unit the user may see but not manage is a 403.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .models import Kind, Status
from .serializers import (
    ComputeQueuedSerializer,
    DismissSerializer,
    RecommendationDetailSerializer,
    RecommendationQuerySerializer,
    RecommendationSerializer,
)


@extend_schema(
    parameters=[
        OpenApiParameter("kind", str, enum=Kind.values, required=False),
        OpenApiParameter("status", str, enum=Status.values, required=False),
    ]
)
class RecommendationListApi(generics.ListAPIView):
    """Recommendations I may see, by kind and the largest amount first."""

    serializer_class = RecommendationSerializer
    filter_backends: list = []

    def get_queryset(self):
        query = RecommendationQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.recommendation_list(user=self.request.user, **query.validated_data)


class RecommendationDetailApi(APIView):
    @extend_schema(responses={200: RecommendationDetailSerializer})
    def get(self, request, pk: int):
        recommendation = selectors.recommendation_get(user=request.user, recommendation_id=pk)
        return Response(
            RecommendationDetailSerializer(recommendation, context={"request": request}).data
        )


class RecommendationDismissApi(APIView):
    @extend_schema(request=DismissSerializer, responses={200: RecommendationDetailSerializer})
    def post(self, request, pk: int):
        recommendation = selectors.recommendation_get(user=request.user, recommendation_id=pk)
        body = DismissSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.recommendation_dismiss(
            recommendation=recommendation,
            reason=body.validated_data["reason"],
            acting_user=request.user,
        )
        recommendation = selectors.recommendation_get(user=request.user, recommendation_id=pk)
        return Response(
            RecommendationDetailSerializer(recommendation, context={"request": request}).data
        )


class RecommendationComputeApi(APIView):
    @extend_schema(request=None, responses={202: ComputeQueuedSerializer})
    def post(self, request):
        job = services.recommendations_request(acting_user=request.user)
        return Response({"job": job}, status=status.HTTP_202_ACCEPTED)
