from rest_framework import serializers

from .kinds import Kind
from .models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    # A plain string in the schema: "kind" enums of other apps would collide with this one.
    kind = serializers.CharField(read_only=True, help_text=f"One of: {', '.join(Kind.values)}.")
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
