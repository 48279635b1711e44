"""Admin for costs and their audit trail, for finance's daily work: filters by status, unit and
category (trees), accounting period and source; search; the transition buttons on a cost's
page; bulk approve and reject with a comment; the selected or filtered costs as CSV.

The cost and audit-trail lists show what the API would show the same user
(``costs.selectors``: finance, auditors and superusers see every unit's costs); auditors
get view-only pages.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from mptt.admin import TreeRelatedFieldListFilter

from costtrack.core.admin import LargeListAdminMixin, ReadOnlyForAuditorsMixin
from costtrack.core.exceptions import ApplicationError
from costtrack.core.roles import is_finance

from .. import selectors, services
from ..export import cost_csv_response
from ..models import Cost, CostEvent
from ..period_models import AccountingPeriod
from ..services.costs import EDITABLE_FIELDS
from ..views import ACTION_DONE, available_actions, run_action, warning_texts
from .service_forms import ServiceAdminMixin, ServiceFormMixin, _changed, _given

ADMIN_TRANSITIONS = ("submit", "approve", "reject", "revise", "cancel", "void")


class AccountingPeriodFilter(admin.SimpleListFilter):
    """The costs incurred in one accounting period (its start and end days, which follow the
    period start-day setting rather than calendar months)."""

    title = "accounting period"
    parameter_name = "period"

    def lookups(self, request, model_admin):
        periods = AccountingPeriod.objects.order_by("-start")[:36]
        return [(p.label, f"{p.label} ({p.get_status_display().lower()})") for p in periods]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        period = AccountingPeriod.objects.filter(label=self.value()).first()
        if period is None:
            return queryset.none()
        return queryset.filter(incurred_on__gte=period.start, incurred_on__lte=period.end)


class CostAdminForm(ServiceFormMixin, forms.ModelForm):
    url = forms.URLField(required=False, max_length=2000, assume_scheme="https")

    class Meta:
        model = Cost
        fields = list(EDITABLE_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "organization_unit" in self.fields:
            self.fields["organization_unit"].required = False
            self.fields["organization_unit"].help_text = "Defaults from the resource or entity."
        if "category" in self.fields:
            self.fields["category"].required = False
            self.fields["category"].help_text = "Defaults to “other”."


class CostActionForm(ActionForm):
    comment = forms.CharField(
        required=False, label="Comment", widget=forms.TextInput(attrs={"size": 40})
    )


class CostEventInline(admin.TabularInline):
    model = CostEvent
    fields = ["at", "action", "from_status", "to_status", "actor", "comment", "changes"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Cost)
class CostAdmin(LargeListAdminMixin, ReadOnlyForAuditorsMixin, ServiceAdminMixin, admin.ModelAdmin):
    form = CostAdminForm
    action_form = CostActionForm
    change_form_template = "costs/admin/cost_change_form.html"
    list_display = [
        "id",
        "incurred_on",
        "short_description",
        "amount",
        "currency",
        "amount_reporting",
        "status",
        "category",
        "organization_unit",
        "resource",
        "submitted_by",
        "approver",
    ]
    list_display_links = ["id", "short_description"]
    list_filter = [
        "status",
        "currency",
        "source",
        AccountingPeriodFilter,
        ("category", TreeRelatedFieldListFilter),
        ("organization_unit", TreeRelatedFieldListFilter),
    ]
    date_hierarchy = "incurred_on"
    search_fields = [
        "=id",
        "description",
        "resource__name",
        "entity__name",
        "submitted_by__username",
    ]
    list_select_related = [
        "category",
        "organization_unit",
        "resource",
        "submitted_by",
        "approver",
    ]
    autocomplete_fields = ["resource", "entity", "organization_unit"]
    readonly_fields = [
        "status",
        "kind",
        "amount_reporting",
        "exchange_rate",
        "source",
        "submitted_by",
        "submitted_at",
        "approver",
        "decided_by",
        "decided_at",
        "decision_comment",
        "created_at",
        "updated_at",
    ]
    inlines = [CostEventInline]
    actions = ["approve_selected", "reject_selected", "export_csv"]

    @admin.display(description="description")
    def short_description(self, obj: Cost) -> str:
        text = obj.description or "—"
        return text if len(text) <= 60 else f"{text[:59]}…"

    def get_queryset(self, request):
        return selectors.cost_list(user=request.user)

    def has_delete_permission(self, request, obj=None):
        # a cost is cancelled or voided through its transitions, never deleted
        return False

    def get_inline_instances(self, request, obj=None):
        # a cost being added has no audit trail yet
        return super().get_inline_instances(request, obj) if obj is not None else []

    def write(self, request, form, cleaned, change):
        if change:
            cost = Cost.objects.get(pk=form.instance.pk)
            return services.cost_update(
                cost=cost, acting_user=request.user, **_changed(form, cleaned, EDITABLE_FIELDS)
            ).cost
        return services.cost_create(
            submitted_by=request.user, draft=True, **_given(cleaned, EDITABLE_FIELDS)
        ).cost

    # transition buttons on the change page
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/transition/<slug:action>/",
                self.admin_site.admin_view(self.transition_view),
                name=f"{info[0]}_{info[1]}_transition",
            ),
            *super().get_urls(),
        ]

    def transition_view(self, request, object_id, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action not in ADMIN_TRANSITIONS:
            raise Http404("No such transition.")
        cost = self.get_object(request, object_id)
        if cost is None:
            raise Http404("No such cost.")
        if not self.has_change_permission(request, cost):
            raise DjangoPermissionDenied
        text = request.POST.get("reason" if action == "void" else "comment", "")
        try:
            result = run_action(
                action=action,
                cost=cost,
                user=request.user,
                comment=text,
                override_reason=request.POST.get("override_reason", ""),
            )
        except ApplicationError as exc:
            self.message_user(
                request,
                f"Cost #{cost.pk} was not {ACTION_DONE[action]}: {exc.message}",
                messages.ERROR,
            )
        else:
            self.message_user(request, f"Cost #{cost.pk} {ACTION_DONE[action]}.", messages.SUCCESS)
            for warning in warning_texts(result):
                self.message_user(request, f"Cost #{cost.pk}: {warning}", messages.WARNING)
        return HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[cost.pk])
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["transitions"] = self._transitions(request, obj) if obj is not None else []
        context["can_override"] = is_finance(request.user)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _transitions(self, request, cost: Cost) -> list[str]:
        if not self.has_change_permission(request, cost):
            return []
        return available_actions(request.user, cost)

    # bulk actions
    def _decide_selected(self, request, queryset, decision: str) -> None:
        comment = request.POST.get("comment", "")
        done, failed = 0, []
        for cost in queryset.order_by("pk"):
            try:
                run_action(action=decision, cost=cost, user=request.user, comment=comment)
            except ApplicationError as exc:
                failed.append(f"#{cost.pk}: {exc.message}")
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} cost(s) {ACTION_DONE[decision]}.", messages.SUCCESS)
        if failed:
            self.message_user(
                request,
                f"{len(failed)} cost(s) not {ACTION_DONE[decision]}: {' '.join(failed)}",
                messages.ERROR,
            )

    @admin.action(description="Approve selected costs (with the comment)", permissions=["change"])
    def approve_selected(self, request, queryset):
        self._decide_selected(request, queryset, "approve")

    @admin.action(description="Reject selected costs (with the comment)", permissions=["change"])
    def reject_selected(self, request, queryset):
        self._decide_selected(request, queryset, "reject")

    @admin.action(description="Download selected costs as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        """The selected costs (or, with “select all”, every cost the filters match) in the
        API's CSV columns, streamed."""
        return cost_csv_response(queryset.order_by("-incurred_on", "-pk"))


@admin.register(CostEvent)
class CostEventAdmin(LargeListAdminMixin, admin.ModelAdmin):
    """The audit trail: readable, never added, changed or deleted."""

    list_display = ["at", "cost", "action", "from_status", "to_status", "actor", "comment"]
    list_filter = ["action"]
    search_fields = ["=cost__id", "comment", "actor__username"]
    list_select_related = ["cost", "actor"]
    date_hierarchy = "at"

    def get_queryset(self, request):
        return selectors.cost_event_list(user=request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
