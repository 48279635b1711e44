"""Admin for budgets: a utilisation column, the revision history (read-only), and every
write through ``budgets.services`` (an amount change needs a reason and writes a revision).
"""

from django import forms
from django.contrib import admin, messages
from django.forms import ValidationError as FormValidationError

from costtrack.core.exceptions import ApplicationError
from costtrack.core.money import round_money
from costtrack.core.roles import is_finance, sees_everything

from . import selectors, services
from .models import Budget, BudgetAlert, BudgetRevision


class FinanceManagesMixin:
    """Finance manages budgets and auditors read them in the admin by their role alone, without
    per-model Django permissions (staff of other roles keep only what they were granted)."""

    def has_module_permission(self, request):
        return sees_everything(request.user) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return sees_everything(request.user) or super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return is_finance(request.user) or super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return is_finance(request.user) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_finance(request.user) or super().has_delete_permission(request, obj)


class BudgetAdminForm(forms.ModelForm):
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the amount changes (required when it does; kept in the revision history).",
    )

    class Meta:
        model = Budget
        fields = [
            "name",
            "amount",
            "currency",
            "action",
            "active",
            "period",
            "start_date",
            "end_date",
            "organization_unit",
            "category",
            "tags_filter",
            "team",
            "alert_thresholds",
            "include_pending",
        ]

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        try:
            services.budget_validate(self.instance)
        except ApplicationError as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, FormValidationError(exc.message, code=exc.code))
            return
        reason = (self.cleaned_data.get("reason") or "").strip()
        if self.instance.pk and "amount" in self.changed_data and not reason:
            self.add_error("reason", "Say why the amount changes.")


class BudgetRevisionInline(admin.TabularInline):
    """The amount's history, read-only: revisions are written by ``budget_update`` only."""

    model = BudgetRevision
    extra = 0
    can_delete = False
    fields = ["at", "changed_by", "old_amount", "new_amount", "reason"]
    readonly_fields = fields
    ordering = ["-at", "-id"]

    def has_view_permission(self, request, obj=None):
        return sees_everything(request.user) or super().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Budget)
class BudgetAdmin(FinanceManagesMixin, admin.ModelAdmin):
    form = BudgetAdminForm
    list_display = [
        "name",
        "organization_unit",
        "category",
        "period",
        "action",
        "amount_display",
        "utilisation",
        "active",
    ]
    list_filter = ["active", "action", "period", "currency"]
    search_fields = ["name", "slug", "organization_unit__name", "organization_unit__code"]
    list_select_related = ["organization_unit", "category", "team"]
    readonly_fields = ["slug", "created_by", "created_at", "updated_at"]
    inlines = [BudgetRevisionInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "amount", "currency", "reason", "action", "active"]}),
        ("Period", {"fields": ["period", "start_date", "end_date"]}),
        ("Scope", {"fields": ["organization_unit", "category", "tags_filter", "team"]}),
        ("Alerts", {"fields": ["alert_thresholds", "include_pending"]}),
        ("History", {"fields": ["created_by", "created_at", "updated_at"]}),
    ]

    def get_changelist_instance(self, request):
        # One spend query for every budget on the page, not one per row.
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        utilisations = selectors.budget_utilisations(rows)
        for budget in rows:
            budget._utilisation = utilisations[budget.pk]
        return changelist

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Budget) -> str:
        return f"{round_money(obj.amount, obj.currency)} {obj.currency}"

    @admin.display(description="utilisation (current period)")
    def utilisation(self, obj: Budget) -> str:
        util = getattr(obj, "_utilisation", None) or selectors.budget_utilization(obj)
        return (
            f"{util.utilization_pct} % ({util.spent} of {util.amount}), "
            f"forecast {util.forecast_pct} %"
        )

    def save_model(self, request, obj, form, change):
        fields = {
            name: form.cleaned_data[name]
            for name in form.cleaned_data
            if name in services.BUDGET_FIELDS
        }
        try:
            if change:
                services.budget_update(
                    budget=obj,
                    acting_user=request.user,
                    reason=form.cleaned_data.get("reason", ""),
                    **fields,
                )
            else:
                saved = services.budget_create(**fields, acting_user=request.user)
                obj.pk = saved.pk
                obj.refresh_from_db()
                obj._state.adding = False
        except ApplicationError as exc:
            messages.error(request, exc.message)
            raise

    def delete_model(self, request, obj):
        services.budget_delete(budget=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for budget in queryset:
            services.budget_delete(budget=budget, acting_user=request.user)


@admin.register(BudgetAlert)
class BudgetAlertAdmin(FinanceManagesMixin, admin.ModelAdmin):
    list_display = ["budget", "kind", "threshold", "period_start", "spend", "amount", "created_at"]
    list_filter = ["kind", "threshold"]
    list_select_related = ["budget"]
    search_fields = ["budget__name", "message"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
