"""Admin for recurring cost items and accounting periods; writes go through the services.

Recurring items are created and changed through ``costs.recurring`` (a refusal is a form
error); periods are created from a label, and the admin action queues their close (the
``costs.close_period`` task, as the API does). Occurrences and a period's figures are
read-only.
"""

from django import forms
from django.contrib import admin, messages

from costtrack.core.exceptions import ApplicationError

from . import periods, recurring
from .admin.service_forms import ServiceAdminMixin, ServiceFormMixin, _changed, _given
from .period_models import AccountingPeriod, RecurringCost, RecurringCostOccurrence

RECURRING_FIELDS = (
    "name",
    "amount",
    "currency",
    "cadence",
    "start_date",
    "end_date",
    "category",
    "resource",
    "entity",
    "organization_unit",
    "description",
    "tags",
    "active",
)


class RecurringCostForm(ServiceFormMixin, forms.ModelForm):
    class Meta:
        model = RecurringCost
        fields = list(RECURRING_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("organization_unit", "category"):
            if name in self.fields:
                self.fields[name].required = False


class OccurrenceInline(admin.TabularInline):
    model = RecurringCostOccurrence
    fields = ("due_on", "cost", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RecurringCost)
class RecurringCostAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = RecurringCostForm
    list_display = ("name", "amount", "currency", "cadence", "start_date", "end_date", "active")
    list_filter = ("cadence", "active", "currency")
    search_fields = ("name", "description")
    list_select_related = ("category", "organization_unit")
    raw_id_fields = ("resource", "entity", "organization_unit")
    inlines = [OccurrenceInline]
    actions = ["generate_due_costs"]

    def get_readonly_fields(self, request, obj=None):
        return ("cadence", "start_date") if obj is not None else ()

    def write(self, request, form, cleaned, change):
        if change:
            updates = _changed(form, cleaned, recurring.UPDATABLE_FIELDS)
            return recurring.recurring_cost_update(
                recurring_cost=form.instance, acting_user=request.user, **updates
            )
        return recurring.recurring_cost_create(
            acting_user=request.user, **_given(cleaned, RECURRING_FIELDS)
        )

    @admin.action(description="Generate the costs due up to today")
    def generate_due_costs(self, request, queryset):
        result = recurring.recurring_costs_generate(items=queryset.select_related("created_by"))
        self.message_user(request, f"{result.created} cost(s) generated.", messages.SUCCESS)
        for error in result.errors:
            self.message_user(request, error, messages.ERROR)


class AccountingPeriodForm(forms.ModelForm):
    class Meta:
        model = AccountingPeriod
        fields = ["label"]

    def clean_label(self):
        label = self.cleaned_data["label"]
        try:
            periods.period_bounds(label)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None
        return label


@admin.register(AccountingPeriod)
class AccountingPeriodAdmin(admin.ModelAdmin):
    form = AccountingPeriodForm
    list_display = ("label", "start", "end", "status", "closed_at", "closed_by")
    list_filter = ("status",)
    fields = (
        "label",
        "start",
        "end",
        "status",
        "totals",
        "pending_at_close",
        "close_steps",
        "closing_started_at",
        "closed_at",
        "closed_by",
        "corrections",
    )
    actions = ["close_periods"]

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj is not None else ()

    def get_fields(self, request, obj=None):
        return self.fields if obj is not None else ("label",)

    @admin.display(description="Corrections booked in later periods")
    def corrections(self, obj):
        """The imported corrections of this period (restatements, reversals), booked later."""
        from django.utils.html import format_html_join

        from .imports.selectors import period_adjustments

        rows = period_adjustments(period=obj) if obj is not None and obj.pk else []
        if not rows:
            return "—"
        return format_html_join(
            "\n",
            "<div>import #{} ({}): {} {} on {} ({} costs, charged {} to {})</div>",
            (
                (
                    r["import_id"], r["role"], r["total"], r["currency"], r["booked_on"],
                    r["costs"], r["charged_from"], r["charged_to"],
                )
                for r in rows
            ),
        )  # fmt: skip

    def save_model(self, request, obj, form, change):
        created = periods.period_create(label=obj.label, acting_user=request.user)
        obj.pk = created.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Close the selected periods")
    def close_periods(self, request, queryset):
        """Queue the ``costs.close_period`` job per period (as the API does);
        what the close would refuse is reported at once and nothing is queued for it."""
        for period in queryset.order_by("start"):
            if period.status == AccountingPeriod.Status.CLOSED:
                self.message_user(request, f"{period.label} is already closed.", messages.INFO)
                continue
            try:
                periods.period_close_check(period=period, acting_user=request.user)
                periods.period_close_enqueue(period=period, acting_user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{period.label}: {exc.message}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{period.label}: the close is queued; the period shows closed once a worker "
                "has run it.",
                messages.SUCCESS,
            )
