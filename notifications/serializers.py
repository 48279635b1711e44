from rest_framework import serializers

from .models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    is_read = serializers.BooleanField(read_only=True)

    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "channel",
            "subject",
            "body",
            "link",
            "payload",
            "created_at",
            "read_at",
            "is_read",
            "emailed_at",
        ]
        read_only_fields = fields
