"""Admin: recommendations and their audit events, read-only (the services write them)."""

from django.contrib import admin

from .models import Recommendation, RecommendationEvent


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class EventInline(admin.TabularInline):
    model = RecommendationEvent
    extra = 0
    can_delete = False
    readonly_fields = ["action", "actor", "reason", "amount", "created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Recommendation)
class RecommendationAdmin(_ReadOnly):
    list_display = ["title", "kind", "amount", "currency", "status", "organization_unit"]
    list_filter = ["kind", "status"]
    search_fields = ["title", "key"]
    list_select_related = ["organization_unit"]
    inlines = [EventInline]


@admin.register(RecommendationEvent)
class RecommendationEventAdmin(_ReadOnly):
    list_display = ["recommendation", "action", "actor", "amount", "created_at"]
    list_select_related = ["recommendation", "actor"]
