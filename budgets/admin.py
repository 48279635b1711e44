"""Admin for budgets: a utilisation column, the revision history (read-only), and every
write through ``budgets.services`` (an amount change needs a reason and writes a revision).
Access follows the roles (finance manages, auditors read); a service's refusal shows as a
form error or an admin message.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import transaction
from django.forms import ValidationError as FormValidationError
from django.http import HttpResponseRedirect

from costtrack.core.exceptions import ApplicationError
from costtrack.core.money import round_money
from costtrack.core.roles import is_finance, sees_everything

from . import selectors, services
from .models import Budget, BudgetAlert, BudgetRevision


class FinanceManagesMixin:
    """Budgets follow the roles in the admin, not per-model Django permissions: finance
    manages them, auditors read them, other staff have no access (the services would refuse
    their writes whatever permissions they were granted)."""

    def has_module_permission(self, request):
        return sees_everything(request.user)

    def has_view_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_add_permission(self, request, *args):
        return is_finance(request.user)

    def has_change_permission(self, request, obj=None):
        return is_finance(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_finance(request.user)


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

    # Bound by ``BudgetAdmin.get_form``: writes the budget through its service.
    service_write = None

    def _post_clean(self):
        """Write through the service in a savepoint, so that anything it refuses becomes a
        form error and nothing is written; ``save_model`` adopts what was written."""
        super()._post_clean()
        if self.errors or self.service_write is None:
            return
        try:
            with transaction.atomic():
                self.saved_object = self.service_write(self.cleaned_data)
        except ApplicationError as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, FormValidationError(exc.message, code=exc.code))


class BudgetRevisionInline(admin.TabularInline):
    """The amount's history, read-only: revisions are written by ``budget_update`` only."""

    model = BudgetRevision
    extra = 0
    can_delete = False
    fields = ["at", "changed_by", "old_amount", "new_amount", "reason"]
    readonly_fields = fields
    ordering = ["-at", "-id"]

    def has_view_permission(self, request, obj=None):
        return sees_everything(request.user)

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
        if util.conversion_gap is not None:
            return f"unknown: {util.conversion_gap.message}"
        forecast = (
            "too early to forecast"
            if util.forecast_pct is None
            else f"forecast {util.forecast_pct} %"
        )
        return f"{util.utilization_pct} % ({util.spent} of {util.amount}), {forecast}"

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        budget_id = obj.pk if obj is not None else None

        def write(cleaned) -> Budget:
            fields = {name: cleaned[name] for name in cleaned if name in services.BUDGET_FIELDS}
            if budget_id is None:
                return services.budget_create(**fields, acting_user=request.user)
            return services.budget_update(
                budget=Budget.objects.get(pk=budget_id),
                acting_user=request.user,
                reason=cleaned.get("reason", ""),
                **fields,
            )

        return type(form_class.__name__, (form_class,), {"service_write": staticmethod(write)})

    def save_model(self, request, obj, form, change):
        saved = getattr(form, "saved_object", None)
        if saved is None:  # only a form that wrote through the service gets here
            raise DjangoPermissionDenied("The budget was not written through its service.")
        obj.pk = saved.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # The only inline (revisions) is read-only; the service wrote everything.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request, obj):
        services.budget_delete(budget=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for budget in queryset:
            services.budget_delete(budget=budget, acting_user=request.user)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ApplicationError as exc:  # the deletion was rolled back
            self.message_user(request, f"The budget was not deleted: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def response_action(self, request, queryset):
        # Bulk deletion: all or nothing, and a refusal is a message, not an error page.
        try:
            with transaction.atomic():
                return super().response_action(request, queryset)
        except ApplicationError as exc:
            self.message_user(request, f"No budget was deleted: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


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
