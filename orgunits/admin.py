"""Admin for the organisation. Tree changes go through the services (moves under a lock)."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError as DjangoValidationError
from mptt.admin import DraggableMPTTAdmin

from costtrack.core.exceptions import ApplicationError

from . import services
from .models import Delegation, Entity, Membership, OrganizationUnit, Resource


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(OrganizationUnit)
class OrganizationUnitAdmin(DraggableMPTTAdmin):
    list_display = ["tree_actions", "indented_title", "code", "owner", "active"]
    list_display_links = ["indented_title"]
    list_filter = ["active", "level"]
    search_fields = ["name", "code"]
    autocomplete_fields = ["owner"]
    inlines = [MembershipInline]
    actions = ["archive_units"]
    list_select_related = ["owner"]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name != "parent"}
        try:
            if change:
                original = OrganizationUnit.objects.get(pk=obj.pk)
                if "parent" in form.changed_data:
                    services.unit_move(unit=original, new_parent=form.cleaned_data["parent"])
                    original.refresh_from_db()
                services.unit_update(unit=original, acting_user=request.user, **fields)
                obj.refresh_from_db()
            else:
                created = services.unit_create(
                    name=obj.name,
                    code=obj.code,
                    parent=obj.parent,
                    owner=obj.owner,
                    description=obj.description,
                    active=obj.active,
                    acting_user=request.user,
                )
                obj.pk = created.pk
                obj.refresh_from_db()
        except (ApplicationError, DjangoValidationError) as exc:
            self.message_user(request, getattr(exc, "message", str(exc)), messages.ERROR)

    @admin.action(description="Archive selected units and their subtrees")
    def archive_units(self, request, queryset):
        for unit in queryset:
            services.unit_archive(unit=unit, acting_user=request.user)
        self.message_user(request, f"Archived {queryset.count()} unit(s) with their subtrees.")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "unit", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "unit__code", "unit__name"]
    autocomplete_fields = ["user", "unit"]
    list_select_related = ["user", "unit"]


@admin.register(Delegation)
class DelegationAdmin(admin.ModelAdmin):
    list_display = ["delegator", "delegate", "start_date", "end_date", "reason"]
    search_fields = ["delegator__username", "delegate__username"]
    autocomplete_fields = ["delegator", "delegate"]
    list_select_related = ["delegator", "delegate"]


@admin.register(Entity)
class EntityAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "organization_unit", "owner"]
    list_filter = ["kind"]
    search_fields = ["name", "organization_unit__code"]
    autocomplete_fields = ["owner", "organization_unit"]
    list_select_related = ["organization_unit", "owner"]


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "provider",
        "account",
        "region",
        "service",
        "organization_unit",
        "owner",
    ]
    list_filter = ["provider", "region"]
    search_fields = ["name", "provider_resource_id", "account"]
    autocomplete_fields = ["owner", "organization_unit", "entity"]
    list_select_related = ["organization_unit", "owner"]
