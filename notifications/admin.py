from django.contrib import admin

from . import services
from .models import Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "recipient",
        "kind",
        "channel",
        "subject",
        "created_at",
        "read_at",
        "emailed_at",
        "email_attempts",
    ]
    list_filter = ["kind", "channel", ("emailed_at", admin.EmptyFieldListFilter)]
    search_fields = ["subject", "recipient__username", "recipient__email"]
    list_select_related = ["recipient"]
    raw_id_fields = ["recipient"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "emailed_at", "email_attempts", "last_error"]
    actions = ["resend"]

    @admin.action(description="Send the e-mail of the selected unsent notifications again")
    def resend(self, request, queryset):
        ids = list(
            queryset.filter(emailed_at__isnull=True, channel="email").values_list("pk", flat=True)
        )
        sent = sum(1 for pk in ids if services.enqueue_delivery(pk))
        self.message_user(request, f"Queued {sent} notification(s) for delivery.")


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "channel", "updated_at"]
    list_filter = ["kind", "channel"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]
