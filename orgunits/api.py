"""REST API for org units, entities and resources. Views validate, then call a service."""

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from costtrack.core.permissions import FinanceManagesOthersRead

from . import selectors, services
from .filters import EntityFilter, OrganizationUnitFilter, ResourceFilter
from .serializers import EntitySerializer, OrganizationUnitSerializer, ResourceSerializer


class OrganizationUnitViewSet(viewsets.ModelViewSet):
    """Organisation units. Finance manages; everyone else reads the subtrees they belong to.

    ``DELETE`` archives the unit and its subtree (they stay for history and reports).
    """

    serializer_class = OrganizationUnitSerializer
    permission_classes = [FinanceManagesOthersRead]
    filterset_class = OrganizationUnitFilter
    ordering_fields = ["name", "code", "created_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.unit_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.unit_create(
            **serializer.validated_data, acting_user=self.request.user
        )

    def perform_update(self, serializer):
        serializer.instance = services.unit_update(
            unit=serializer.instance, **serializer.validated_data, acting_user=self.request.user
        )

    @extend_schema(responses={200: OrganizationUnitSerializer})
    def destroy(self, request, *args, **kwargs):
        unit = services.unit_archive(unit=self.get_object(), acting_user=request.user)
        return Response(self.get_serializer(unit).data, status=status.HTTP_200_OK)


class EntityViewSet(viewsets.ModelViewSet):
    serializer_class = EntitySerializer
    permission_classes = [FinanceManagesOthersRead]
    filterset_class = EntityFilter
    ordering_fields = ["name", "kind", "created_at"]

    def get_queryset(self):
        return selectors.entity_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.entity_create(
            **serializer.validated_data, acting_user=self.request.user
        )

    def perform_update(self, serializer):
        serializer.instance = services.entity_update(
            entity=serializer.instance, **serializer.validated_data, acting_user=self.request.user
        )

    def perform_destroy(self, instance):
        services.entity_delete(entity=instance, acting_user=self.request.user)


class ResourceViewSet(viewsets.ModelViewSet):
    serializer_class = ResourceSerializer
    permission_classes = [FinanceManagesOthersRead]
    filterset_class = ResourceFilter
    ordering_fields = ["name", "provider", "account", "region", "created_at"]

    def get_queryset(self):
        return selectors.resource_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.resource_create(
            **serializer.validated_data, acting_user=self.request.user
        )

    def perform_update(self, serializer):
        serializer.instance = services.resource_update(
            resource=serializer.instance, **serializer.validated_data, acting_user=self.request.user
        )

    def perform_destroy(self, instance):
        services.resource_delete(resource=instance, acting_user=self.request.user)
