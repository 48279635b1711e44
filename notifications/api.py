"""REST API of the notifications app: my notifications, mark read, my preferences.

Every endpoint is scoped to the signed-in user; another user's notification is a 404.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from costtrack.core.exceptions import NotFound, ValidationError

from . import selectors, services
from .serializers import NotificationSerializer


class NotificationListApi(generics.ListAPIView):
    """My notifications, unread first (``?limit=&offset=``; ``?unread=true`` for unread only)."""

    serializer_class = NotificationSerializer
    filter_backends: list = []

    def get_queryset(self):
        queryset = selectors.notification_list(user=self.request.user)
        if self.request.query_params.get("unread", "").lower() in ("1", "true", "yes"):
            queryset = queryset.filter(read_at__isnull=True)
        return queryset


class NotificationReadApi(APIView):
    @extend_schema(request=None, responses={200: NotificationSerializer})
    def post(self, request, pk: int):
        notification = selectors.notification_get(user=request.user, notification_id=pk)
        if notification is None:
            raise NotFound("Notification not found.")
        notification = services.mark_read(notification=notification, user=request.user)
        return Response(NotificationSerializer(notification).data)


class NotificationReadAllApi(APIView):
    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request):
        count = services.mark_all_read(user=request.user)
        return Response({"marked_read": count}, status=status.HTTP_200_OK)


class NotificationPreferencesApi(APIView):
    """My channel per kind, as ``{kind: channel}``. ``PUT`` changes the kinds it names
    (channels: ``in_app``, ``email``, ``digest``, ``off``); an unknown kind or channel is a
    400 naming it and changes nothing."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(selectors.preferences_for(user=request.user))

    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def put(self, request):
        data = request.data
        if not isinstance(data, dict):
            raise ValidationError("Send an object of kind -> channel.")
        for kind, channel in data.items():
            if not isinstance(channel, str):
                raise ValidationError(f"The channel of {kind} must be a string.", field="channel")
        services.preferences_set(user=request.user, preferences=data)
        return Response(selectors.preferences_for(user=request.user))
