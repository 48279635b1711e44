"""Admin for the cost graph, usage and runs. Writes go through ``allocation.services``;
runs are read-only, with an action that runs the allocation of their periods again."""

from django import forms
from django.contrib import admin, messages

from costtrack.core.exceptions import ApplicationError

from . import services
from .models import AllocationEdge, AllocationRun, CostNode, UsageRecord


class CostNodeForm(forms.ModelForm):
    class Meta:
        model = CostNode
        fields = ["name", "kind", "resource", "entity", "organization_unit", "description"]

    def clean(self):
        data = super().clean()
        links = [n for n in ("resource", "entity", "organization_unit") if data.get(n)]
        if len(links) > 1:
            raise forms.ValidationError("Link a node to one resource, entity or unit at most.")
        return data


@admin.register(CostNode)
class CostNodeAdmin(admin.ModelAdmin):
    form = CostNodeForm
    list_display = ["name", "kind", "resource", "entity", "organization_unit"]
    list_filter = ["kind"]
    search_fields = ["name", "description"]
    raw_id_fields = ["resource", "entity", "organization_unit"]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data.get(name) for name in CostNodeForm.Meta.fields}
        if change:
            services.node_update(node=obj, **fields, acting_user=request.user)
        else:
            form.instance = services.node_create(**fields, acting_user=request.user)
            obj.pk = form.instance.pk

    def delete_model(self, request, obj):
        services.node_delete(node=obj, acting_user=request.user)


class AllocationEdgeForm(forms.ModelForm):
    class Meta:
        model = AllocationEdge
        fields = [
            "parent",
            "child",
            "strategy",
            "parameters",
            "overrides",
            "active_from",
            "active_to",
        ]

    def clean(self):
        data = super().clean()
        if self.errors or not data.get("parent") or not data.get("child"):
            return data
        edge = AllocationEdge(pk=self.instance.pk, **{f: data.get(f) for f in self.Meta.fields})
        edge.parameters = edge.parameters or {}
        edge.overrides = edge.overrides or {}
        try:
            services.edge_validate(edge=edge)
        except ApplicationError as exc:
            field = exc.field if exc.field in self.fields else None
            raise forms.ValidationError({field: exc.message} if field else exc.message) from None
        return data


@admin.register(AllocationEdge)
class AllocationEdgeAdmin(admin.ModelAdmin):
    form = AllocationEdgeForm
    list_display = ["parent", "child", "strategy", "parameters", "active_from", "active_to"]
    list_filter = ["strategy"]
    list_select_related = ["parent", "child"]
    search_fields = ["parent__name", "child__name"]
    raw_id_fields = ["parent", "child"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.edge_update(
                edge=obj,
                **{f: data.get(f) for f in services.EDGE_FIELDS},
                acting_user=request.user,
            )
        else:
            form.instance = services.edge_create(
                **{f: data.get(f) for f in AllocationEdgeForm.Meta.fields},
                acting_user=request.user,
            )
            obj.pk = form.instance.pk

    def delete_model(self, request, obj):
        services.edge_delete(edge=obj, acting_user=request.user)


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = ["date", "node", "metric", "quantity", "dimension"]
    list_filter = ["metric", "dimension"]
    list_select_related = ["node"]
    search_fields = ["node__name", "metric"]
    date_hierarchy = "date"
    raw_id_fields = ["node"]


@admin.register(AllocationRun)
class AllocationRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "period_start",
        "period_end",
        "status",
        "raw_total",
        "allocated_total",
        "unallocated_total",
        "coverage",
        "created_at",
    ]
    list_filter = ["status"]
    date_hierarchy = "period_start"
    actions = ["run_allocation"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Run allocation for the selected runs' periods")
    def run_allocation(self, request, queryset):
        periods = sorted(set(queryset.values_list("period_start", "period_end")))
        for start, end in periods:
            try:
                run = services.allocation_run(
                    period_start=start, period_end=end, acting_user=request.user
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            level = messages.SUCCESS if run.status == run.Status.SUCCEEDED else messages.ERROR
            self.message_user(
                request,
                f"Run #{run.pk} {start}–{end}: {run.status}, coverage {run.coverage}.",
                level,
            )
