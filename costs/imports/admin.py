"""Admin for billing imports (read-only history), mapping rules and auto-approval policies.

Registered from ``CostsConfig.ready()``. Uploads go through the API or ``costtrack import``.
"""

from django.contrib import admin

from costtrack.core.admin import LargeListAdminMixin

from ..models import ImportApprovalPolicy, ImportBatch, ImportedCost, MappingRule
from . import rules


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
    readonly_fields = [f.name for f in ImportBatch._meta.fields]

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
