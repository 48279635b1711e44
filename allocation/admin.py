"""Admin for the cost graph, usage and runs. Writes go through ``allocation.services``;
runs and their rows (results, flows, ledger) are read-only, with an action that runs the
allocation of the selected runs' periods again."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Q

from costtrack.core.admin import FinanceWritesMixin, LargeListAdminMixin
from costtrack.core.exceptions import ApplicationError

from . import services
from .models import (
    AllocationEdge,
    AllocationFlow,
    AllocationResult,
    AllocationRun,
    CostNode,
    LedgerEntry,
    Revenue,
    UsageRecord,
)


class CostNodeForm(forms.ModelForm):
    class Meta:
        model = CostNode
        fields = [
            "name",
            "kind",
            "resource",
            "entity",
            "organization_unit",
            "parent_product",
            "description",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "parent_product" in self.fields:
            self.fields["parent_product"].queryset = CostNode.objects.filter(
                kind=CostNode.Kind.PRODUCT
            ).exclude(pk=self.instance.pk)

    def clean(self):
        data = super().clean()
        links = [n for n in ("resource", "entity", "organization_unit") if data.get(n)]
        if len(links) > 1:
            raise forms.ValidationError("Link a node to one resource, entity or unit at most.")
        node = CostNode(
            pk=self.instance.pk,
            name=data.get("name") or "",
            kind=data.get("kind") or "",
            parent_product=data.get("parent_product"),
        )
        try:
            services.product_parent_validate(node=node)
        except ApplicationError as exc:
            raise forms.ValidationError({"parent_product": exc.message}) from None
        return data


@admin.register(CostNode)
class CostNodeAdmin(FinanceWritesMixin, admin.ModelAdmin):
    form = CostNodeForm
    list_display = ["name", "kind", "parent_product", "resource", "entity", "organization_unit"]
    list_filter = ["kind"]
    list_select_related = ["parent_product", "resource", "entity", "organization_unit"]
    search_fields = ["name", "description"]
    raw_id_fields = ["resource", "entity", "organization_unit", "parent_product"]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data.get(name) for name in CostNodeForm.Meta.fields}
        if change:
            services.node_update(node=obj, **fields, acting_user=request.user)
        else:
            form.instance = services.node_create(**fields, acting_user=request.user)
            obj.pk = form.instance.pk

    def delete_model(self, request, obj):
        services.node_delete(node=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for node in queryset:
            try:
                services.node_delete(node=node, acting_user=request.user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)


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
class AllocationEdgeAdmin(FinanceWritesMixin, admin.ModelAdmin):
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

    def delete_queryset(self, request, queryset):
        for edge in queryset.select_related("parent", "child"):
            services.edge_delete(edge=edge, acting_user=request.user)


@admin.register(UsageRecord)
class UsageRecordAdmin(LargeListAdminMixin, FinanceWritesMixin, admin.ModelAdmin):
    list_display = ["date", "node", "metric", "quantity", "dimension"]
    list_filter = ["metric", "dimension"]
    list_select_related = ["node"]
    search_fields = ["node__name", "metric"]
    date_hierarchy = "date"
    raw_id_fields = ["node"]

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data.get(name) for name in services.USAGE_FIELDS}
        data["dimension"] = data["dimension"] or ""
        if change:
            services.usage_record_update(record=obj, **data, acting_user=request.user)
        else:
            form.instance = services.usage_record_create(**data, acting_user=request.user)
            obj.pk = form.instance.pk

    def delete_model(self, request, obj):
        services.usage_record_delete(record=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for record in queryset:
            services.usage_record_delete(record=record, acting_user=request.user)


REVENUE_FORM_FIELDS = ["node", "date", "grain", "amount", "currency"]


class RevenueForm(forms.ModelForm):
    class Meta:
        model = Revenue
        fields = REVENUE_FORM_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "node" in self.fields:
            self.fields["node"].queryset = CostNode.objects.filter(kind=CostNode.Kind.PRODUCT)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            services.revenue_validate(**{f: data.get(f) for f in REVENUE_FORM_FIELDS})
        except ApplicationError as exc:
            field = exc.field if exc.field in self.fields else None
            raise forms.ValidationError({field: exc.message} if field else exc.message) from None
        clash = Revenue.objects.filter(
            node=data["node"], date=data["date"], grain=data["grain"]
        ).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(
                {"date": "This product has revenue for that date and grain already; edit it."}
            )
        return data


@admin.register(Revenue)
class RevenueAdmin(LargeListAdminMixin, FinanceWritesMixin, admin.ModelAdmin):
    """Product revenue, written through ``allocation.services`` (converted like costs);
    ``costtrack revenue load FILE.csv`` loads many rows at once."""

    form = RevenueForm
    list_display = ["date", "grain", "node", "amount", "currency", "amount_reporting"]
    list_filter = ["grain", "currency"]
    list_select_related = ["node"]
    search_fields = ["node__name"]
    date_hierarchy = "date"
    raw_id_fields = ["node"]
    fields = [*REVENUE_FORM_FIELDS, "amount_reporting", "exchange_rate", "created_by"]
    readonly_fields = ["amount_reporting", "exchange_rate", "created_by"]

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data.get(f) for f in REVENUE_FORM_FIELDS}
        if change:
            services.revenue_update(revenue=obj, **data, acting_user=request.user)
        else:
            form.instance = services.revenue_set(**data, acting_user=request.user)
            obj.pk = form.instance.pk

    def delete_model(self, request, obj):
        services.revenue_delete(revenue=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for row in queryset:
            services.revenue_delete(revenue=row, acting_user=request.user)


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


# --- the rows of a run: read-only -----------------------------------------------------

RECENT_RUNS = 20
LISTED_NODES = 50


class RunFilter(admin.SimpleListFilter):
    """The latest runs (and the one chosen, however old); any run by ``?run=<id>``."""

    title = "run"
    parameter_name = "run"

    def lookups(self, request, model_admin):
        chosen = _int_or_none(self.value())
        runs = list(AllocationRun.objects.order_by("-id")[:RECENT_RUNS])
        if chosen is not None and chosen not in {r.pk for r in runs}:
            runs += list(AllocationRun.objects.filter(pk=chosen))
        return [
            (str(r.pk), f"#{r.pk} {r.period_start:%Y-%m-%d}–{r.period_end:%Y-%m-%d}") for r in runs
        ]

    def queryset(self, request, queryset):
        run_id = _int_or_none(self.value())
        if run_id is None:
            return queryset
        run = AllocationRun.objects.filter(pk=run_id).only("id", "same_as_id").first()
        return queryset.filter(run_id=run.rows_run_id if run else run_id)


class NodeFilter(admin.SimpleListFilter):
    """The products by name (and the node chosen); any node by ``?node=<id>``."""

    title = "node"
    parameter_name = "node"
    node_fields: tuple[str, ...] = ("node_id",)

    def lookups(self, request, model_admin):
        chosen = _int_or_none(self.value())
        nodes = list(
            CostNode.objects.filter(kind=CostNode.Kind.PRODUCT)
            .order_by("name")
            .values_list("id", "name")[:LISTED_NODES]
        )
        if chosen is not None and chosen not in {n for n, _ in nodes}:
            nodes += list(CostNode.objects.filter(pk=chosen).values_list("id", "name"))
        return [(str(n), name) for n, name in nodes]

    def queryset(self, request, queryset):
        node_id = _int_or_none(self.value())
        if node_id is None:
            return queryset
        condition = Q()
        for field in self.node_fields:
            condition |= Q(**{field: node_id})
        return queryset.filter(condition)


class FlowNodeFilter(NodeFilter):
    """Flows from or to the node."""

    node_fields = ("from_node_id", "to_node_id")


def _int_or_none(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class RunRowsAdmin(LargeListAdminMixin, admin.ModelAdmin):
    """Rows a run wrote once, in bulk: nobody adds, edits or deletes them here."""

    # A run has up to millions of rows: count at most the cap, never the whole table.
    list_per_page = 100

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AllocationResult)
class AllocationResultAdmin(RunRowsAdmin):
    list_display = [
        "run_id",
        "node",
        "dimension",
        "direct",
        "received",
        "holistic",
        "allocated_out",
        "retained",
        "carried_forward",
    ]
    list_filter = [RunFilter, NodeFilter, "node__kind"]
    list_select_related = ["node"]
    search_fields = ["node__name", "dimension"]


@admin.register(AllocationFlow)
class AllocationFlowAdmin(RunRowsAdmin):
    list_display = ["run_id", "from_node", "to_node", "dimension", "amount"]
    list_filter = [RunFilter, FlowNodeFilter]
    list_select_related = ["from_node", "to_node"]
    search_fields = ["from_node__name", "to_node__name", "dimension"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(RunRowsAdmin):
    list_display = ["run_id", "entry", "kind", "account", "node", "dimension", "debit", "credit"]
    list_filter = [RunFilter, NodeFilter, "kind"]
    list_select_related = ["node"]
    search_fields = ["node__name", "account", "dimension"]
