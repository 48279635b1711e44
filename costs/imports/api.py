"""Billing import API: upload (finance), status with row errors, batch decisions, rules."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import ModelViewSet

from costtrack.core.exceptions import NotFound
from costtrack.core.pagination import LimitOffsetPagination
from costtrack.core.parsers import FormParser, MultiPartParser
from costtrack.core.permissions import FinanceManagesOthersRead
from costtrack.core.roles import sees_everything
from costtrack.core.uploads import max_upload_bytes

from . import rules, selectors, services
from .serializers import (
    ImportBatchDetailSerializer,
    ImportBatchSerializer,
    ImportDecisionSerializer,
    ImportUploadSerializer,
    MappingRuleSerializer,
    PlacementResultSerializer,
)

User = get_user_model()


class ImportListCreateApi(APIView):
    """``GET`` the imports I may see; ``POST`` a FOCUS file (multipart ``file``; finance)."""

    parser_classes = [MultiPartParser, FormParser]
    permission_classes = [IsAuthenticated]
    pagination_class = LimitOffsetPagination  # the list's pages (and their schema)

    @property
    def upload_max_bytes(self) -> int:
        """``COSTTRACK_IMPORT_MAX_MB``: larger billing files are refused with 413."""
        return max_upload_bytes()

    @extend_schema(
        operation_id="imports_list",
        responses={200: ImportBatchSerializer(many=True)},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.import_list(user=request.user), request)
        return paginator.get_paginated_response(ImportBatchSerializer(page, many=True).data)

    @extend_schema(
        operation_id="imports_create",
        request={"multipart/form-data": ImportUploadSerializer},
        responses={202: ImportBatchDetailSerializer, 200: ImportBatchDetailSerializer},
    )
    def post(self, request):
        serializer = ImportUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        batch, created = services.import_create(
            file_name=upload.name,
            content=upload.read(),
            acting_user=request.user,
            unit=serializer.validated_data.get("unit"),
            override_reason=serializer.validated_data.get("override_reason", ""),
            focus_version=serializer.validated_data.get("focus_version", ""),
        )
        batch = selectors.import_get(user=request.user, pk=batch.pk)
        return Response(
            ImportBatchDetailSerializer(batch).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


class ImportDetailApi(APIView):
    """Status, counts, totals, row errors ({line, column, message}) and warnings."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="imports_retrieve", responses={200: ImportBatchDetailSerializer})
    def get(self, request, pk: int):
        batch = selectors.import_get(user=request.user, pk=pk)
        if batch is None:
            raise NotFound("No such import.")
        return Response(ImportBatchDetailSerializer(batch).data)


class ImportPlaceApi(APIView):
    """Re-run the placement of the import's unmapped rows with the current mapping rules."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="imports_place", request=None, responses={200: PlacementResultSerializer}
    )
    def post(self, request, pk: int):
        batch = selectors.import_get(user=request.user, pk=pk)
        if batch is None:
            raise NotFound("No such import.")
        result = services.import_rerun_placement(batch=batch, acting_user=request.user)
        return Response(PlacementResultSerializer(result).data)


class ImportDecideApi(APIView):
    """Approve or reject one approver's share of an import in one decision."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="imports_decide",
        request=ImportDecisionSerializer,
        responses={
            200: inline_serializer(
                "ImportDecisionResult",
                {
                    "import": serializers.IntegerField(),
                    "decision": serializers.CharField(),
                    "costs": serializers.IntegerField(),
                },
            )
        },
    )
    def post(self, request, pk: int):
        serializer = ImportDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        from ..models import ImportBatch

        batch = ImportBatch.objects.filter(pk=pk).first()
        if batch is None:
            raise NotFound("No such import.")
        if "approver" in data:
            approver = (
                User.objects.filter(pk=data["approver"]).first() if data["approver"] else None
            )
            if data["approver"] and approver is None:
                raise NotFound("No such approver.")
        else:
            approver = request.user
        decided = services.import_batch_decide(
            batch=batch,
            approver=approver,
            decision=data["decision"],
            comment=data["comment"],
            acting_user=request.user,
            override_reason=data["override_reason"],
        )
        return Response({"import": batch.pk, "decision": data["decision"], "costs": decided})


class ImportGroupsAwaitingApi(APIView):
    """The import approval groups waiting for me (the inbox's batch rows)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="imports_awaiting",
        responses={
            200: inline_serializer(
                "ImportGroupsAwaiting",
                {
                    "count": serializers.IntegerField(),
                    "results": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
    )
    def get(self, request):
        groups = selectors.import_groups_awaiting(request.user)
        for group in groups:
            group["total_reporting"] = str(group["total_reporting"])
        return Response({"count": len(groups), "results": groups})


class MappingRuleViewSet(ModelViewSet):
    """Mapping rules: everyone signed in who sees everything reads; finance writes."""

    serializer_class = MappingRuleSerializer
    permission_classes = [FinanceManagesOthersRead]
    filterset_fields = ["active"]

    def get_queryset(self):
        if not sees_everything(self.request.user):
            return selectors.mapping_rule_list().none()
        return selectors.mapping_rule_list()

    def perform_create(self, serializer):
        serializer.instance = rules.mapping_rule_create(
            acting_user=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = rules.mapping_rule_update(
            rule=serializer.instance, acting_user=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        rules.mapping_rule_delete(rule=instance, acting_user=self.request.user)
