"""Admin for the organisation. Every write goes through ``orgunits.services``.

Forms validate first (so a bad move or a duplicate shows as a form error and nothing is
written); ``save_model`` then calls the service that performs the write under the tree lock.
Drag-and-drop moves in the tree changelist go through ``services.unit_move`` too.

Lists show what the API shows the same user (``orgunits.selectors``: finance, auditors and
superusers see the whole organisation); auditors get view-only pages.
"""

from django import http
from django.contrib import admin, messages
from django.forms import ValidationError as FormValidationError
from mptt.admin import DraggableMPTTAdmin
from mptt.forms import MPTTAdminForm

from costtrack.core.admin import ReadOnlyForAuditorsMixin
from costtrack.core.exceptions import ApplicationError
from costtrack.core.roles import sees_everything

from . import selectors, services
from .models import Delegation, Entity, Membership, OrganizationUnit, Resource


def _changed_fields(form, allowed: set[str]) -> dict:
    return {name: form.cleaned_data[name] for name in form.changed_data if name in allowed}


def _all_fields(form, allowed: set[str]) -> dict:
    return {name: value for name, value in form.cleaned_data.items() if name in allowed}


def _adopt(obj, saved) -> None:
    """Make the admin's in-memory object the row the service wrote."""
    obj.pk = saved.pk
    obj.refresh_from_db()
    obj._state.adding = False


class OrganizationUnitAdminForm(MPTTAdminForm):
    def clean(self):
        # MPTTAdminForm.clean only says "Invalid parent"; the service's check explains why.
        cleaned_data = super(MPTTAdminForm, self).clean()
        parent = cleaned_data.get("parent")
        if self.instance.pk is not None and parent is not None:
            try:
                services.unit_move_check(unit=self.instance, new_parent=parent)
            except ApplicationError as exc:
                self.add_error("parent", FormValidationError(exc.message, code=exc.code))
        return cleaned_data


class MembershipInline(ReadOnlyForAuditorsMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(OrganizationUnit)
class OrganizationUnitAdmin(ReadOnlyForAuditorsMixin, DraggableMPTTAdmin):
    form = OrganizationUnitAdminForm
    list_display = ["tree_actions", "indented_title", "code", "owner", "active"]
    list_display_links = ["indented_title"]
    list_filter = ["active", "level"]
    search_fields = ["name", "code"]
    autocomplete_fields = ["owner"]
    inlines = [MembershipInline]
    actions = ["archive_units"]
    list_select_related = ["owner"]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if sees_everything(request.user):
            return qs
        return qs.filter(pk__in=selectors.unit_list(user=request.user).values("pk"))

    def save_model(self, request, obj, form, change):
        if change:
            unit = OrganizationUnit.objects.get(pk=obj.pk)
            fields = _changed_fields(form, services.UNIT_FIELDS | {"parent"})
            saved = services.unit_update(unit=unit, acting_user=request.user, **fields)
        else:
            saved = services.unit_create(
                **_all_fields(form, services.UNIT_FIELDS | {"parent"}), acting_user=request.user
            )
        _adopt(obj, saved)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        memberships = formset.save(commit=False)
        acting = request.user
        for membership in formset.deleted_objects:
            services.membership_remove(
                user=membership.user, unit=membership.unit, acting_user=acting
            )
        for membership, changed in formset.changed_objects:
            if "user" in changed:
                previous = Membership.objects.get(pk=membership.pk)
                services.membership_remove(
                    user=previous.user, unit=previous.unit, acting_user=acting
                )
        for membership in memberships:
            services.membership_set(
                user=membership.user, unit=form.instance, role=membership.role, acting_user=acting
            )

    def _move_node(self, request):
        """Drag-and-drop: the unit goes under the target (or beside it: under its parent)."""
        position = request.POST.get("position")
        if position not in ("last-child", "left", "right"):
            self.message_user(request, "Did not understand moving instruction.", messages.ERROR)
            return http.HttpResponse("FAIL, unknown instruction.")
        queryset = self.get_queryset(request)
        try:
            unit = queryset.get(pk=request.POST.get("cut_item"))
            target = queryset.get(pk=request.POST.get("pasted_on"))
        except (OrganizationUnit.DoesNotExist, TypeError, ValueError):
            self.message_user(request, "Objects have disappeared, try again.", messages.ERROR)
            return http.HttpResponse("FAIL, invalid objects.")
        if not self.has_change_permission(request, unit):
            self.message_user(request, "No permission", messages.ERROR)
            return http.HttpResponse("FAIL, no permission.")
        new_parent = target if position == "last-child" else target.parent
        try:
            services.unit_move(unit=unit, new_parent=new_parent, acting_user=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return http.HttpResponse("FAIL, invalid move.")
        self.log_change(request, unit, [{"changed": {"fields": ["parent"]}}])
        self.message_user(request, f"{unit} has been moved.")
        return http.HttpResponse("OK, moved.")

    @admin.action(description="Archive selected units and their subtrees", permissions=["change"])
    def archive_units(self, request, queryset):
        units = list(queryset)
        for unit in units:
            services.unit_archive(unit=unit, acting_user=request.user)
        self.message_user(request, f"Archived {len(units)} unit(s) with their subtrees.")


@admin.register(Membership)
class MembershipAdmin(ReadOnlyForAuditorsMixin, admin.ModelAdmin):
    list_display = ["user", "unit", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "unit__code", "unit__name"]
    autocomplete_fields = ["user", "unit"]
    list_select_related = ["user", "unit"]

    def get_queryset(self, request):
        return selectors.membership_list(user=request.user)

    def save_model(self, request, obj, form, change):
        if change and {"user", "unit"} & set(form.changed_data):
            previous = Membership.objects.select_related("user", "unit").get(pk=obj.pk)
            services.membership_remove(
                user=previous.user, unit=previous.unit, acting_user=request.user
            )
        saved = services.membership_set(
            user=obj.user, unit=obj.unit, role=obj.role, acting_user=request.user
        )
        _adopt(obj, saved)

    def delete_model(self, request, obj):
        services.membership_remove(user=obj.user, unit=obj.unit, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("user", "unit"):
            services.membership_remove(
                user=membership.user, unit=membership.unit, acting_user=request.user
            )


@admin.register(Delegation)
class DelegationAdmin(ReadOnlyForAuditorsMixin, admin.ModelAdmin):
    list_display = ["delegator", "delegate", "start_date", "end_date", "reason"]
    search_fields = ["delegator__username", "delegate__username"]
    autocomplete_fields = ["delegator", "delegate"]
    list_select_related = ["delegator", "delegate"]

    def get_queryset(self, request):
        return selectors.delegation_list(user=request.user)

    def save_model(self, request, obj, form, change):
        if change:
            delegation = Delegation.objects.get(pk=obj.pk)
            fields = _changed_fields(form, services.DELEGATION_FIELDS)
            saved = services.delegation_update(
                delegation=delegation, acting_user=request.user, **fields
            )
        else:
            saved = services.delegation_create(
                **_all_fields(form, services.DELEGATION_FIELDS), acting_user=request.user
            )
        _adopt(obj, saved)


@admin.register(Entity)
class EntityAdmin(ReadOnlyForAuditorsMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "organization_unit", "owner"]
    list_filter = ["kind"]
    search_fields = ["name", "organization_unit__code"]
    autocomplete_fields = ["owner", "organization_unit"]
    list_select_related = ["organization_unit", "owner"]

    def get_queryset(self, request):
        return selectors.entity_list(user=request.user)

    def save_model(self, request, obj, form, change):
        if change:
            entity = Entity.objects.get(pk=obj.pk)
            fields = _changed_fields(form, services.ENTITY_FIELDS)
            saved = services.entity_update(entity=entity, acting_user=request.user, **fields)
        else:
            fields = _all_fields(form, services.ENTITY_FIELDS)
            saved = services.entity_create(acting_user=request.user, **fields)
        _adopt(obj, saved)

    def delete_model(self, request, obj):
        services.entity_delete(entity=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for entity in queryset:
            services.entity_delete(entity=entity, acting_user=request.user)


@admin.register(Resource)
class ResourceAdmin(ReadOnlyForAuditorsMixin, admin.ModelAdmin):
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

    def get_queryset(self, request):
        return selectors.resource_list(user=request.user)

    def save_model(self, request, obj, form, change):
        if change:
            resource = Resource.objects.get(pk=obj.pk)
            fields = _changed_fields(form, services.RESOURCE_FIELDS)
            saved = services.resource_update(resource=resource, acting_user=request.user, **fields)
        else:
            fields = _all_fields(form, services.RESOURCE_FIELDS)
            saved = services.resource_create(acting_user=request.user, **fields)
        _adopt(obj, saved)

    def delete_model(self, request, obj):
        services.resource_delete(resource=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for resource in queryset:
            services.resource_delete(resource=resource, acting_user=request.user)
