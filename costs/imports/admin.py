"""Admin for billing imports (read-only history), mapping rules and auto-approval policies.

Registered from ``CostsConfig.ready()``. Uploads go through the API or ``costtrack import``.
"""

from django.contrib import admin, messages
from django.utils.html import format_html_join

from costtrack.core.admin import LargeListAdminMixin
from costtrack.core.exceptions import ApplicationError

from ..models import ImportApprovalPolicy, ImportBatch, ImportedCost, ImportScope, MappingRule
from . import rules, selectors
from .placement import import_rerun_placement


class ImportScopeInline(admin.TabularInline):
    """The file's scopes, each with its own rows, costs and BilledCost/EffectiveCost/ListCost."""

    model = ImportScope
    fk_name = "batch"
    extra = 0
    can_delete = False
    fields = [
        "provider", "billing_account_id", "billing_period_start", "billing_period_end",
        "status", "rows", "imported_rows", "unmapped_rows", "corrections", "costs_created",
        "costs_reversed", "totals", "cost_totals", "supersedes", "superseded_at",
    ]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = [
        "id", "file_name", "status", "provider", "billing_account_id", "billing_period_start",
        "rows", "costs_created", "costs_auto_approved", "costs_reversed", "error_count",
        "created_by", "created_at",
    ]  # fmt: skip
    list_filter = ["status", "provider"]
    search_fields = ["file_name", "billing_account_id", "sha256"]
    list_select_related = ["created_by"]
    exclude = []
    readonly_fields = [*(f.name for f in ImportBatch._meta.fields), "unmapped_keys"]
    inlines = [ImportScopeInline]
    actions = ["rerun_placement"]

    @admin.display(description="Unmapped rows' keys")
    def unmapped_keys(self, obj):
        keys = selectors.import_unmapped_keys(batch=obj) if obj and obj.unmapped_rows else []
        if not keys:
            return "—"
        return format_html_join(
            "\n",
            "<div>tags {} · sub-account {} · service {} · region {}: {} {} ({} rows)</div>",
            (
                (
                    k["tags"], k["sub_account_id"] or "—", k["service_name"] or "—",
                    k["region_id"] or "—", k["total"], k["currency"], k["lines"],
                )
                for k in keys
            ),
        )  # fmt: skip

    @admin.action(description="Re-run placement of unmapped rows with the current rules")
    def rerun_placement(self, request, queryset):
        for batch in queryset.order_by("pk"):
            try:
                result = import_rerun_placement(batch=batch, acting_user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"Import #{batch.pk}: {exc.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"Import #{batch.pk}: {result.placed_rows} rows placed by a rule, "
                f"{result.still_unmapped_rows} still unmapped.",
                messages.SUCCESS,
            )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ImportedCost)
class ImportedCostAdmin(LargeListAdminMixin, admin.ModelAdmin):
    list_display = ["cost", "batch", "role", "lines", "first_line", "reverses"]
    list_filter = ["role"]
    raw_id_fields = ["cost", "batch", "reverses"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MappingRule)
class MappingRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name", "priority", "active", "match_provider", "match_billing_account",
        "match_sub_account", "match_service", "match_tag_key", "match_tag_value",
        "organization_unit", "entity", "category",
    ]  # fmt: skip
    list_editable = ["priority", "active"]
    list_filter = ["active", "match_provider"]
    search_fields = ["name", "match_service", "match_tag_key", "match_tag_value"]
    autocomplete_fields = []
    list_select_related = ["organization_unit", "entity", "category"]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.cleaned_data}
        if change:
            rules.mapping_rule_update(rule=obj, acting_user=request.user, **fields)
        else:
            created = rules.mapping_rule_create(acting_user=request.user, **fields)
            obj.pk, obj._state.adding = created.pk, False

    def delete_model(self, request, obj):
        rules.mapping_rule_delete(rule=obj, acting_user=request.user)


@admin.register(ImportApprovalPolicy)
class ImportApprovalPolicyAdmin(admin.ModelAdmin):
    list_display = ["organization_unit", "max_amount", "currency", "active"]
    list_filter = ["active", "currency"]
    list_select_related = ["organization_unit"]
