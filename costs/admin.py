"""Admin for costs, their audit trail, exchange rates and the category tree.

Every write goes through ``costs.services``, so the admin obeys the same rules as the API
and the pages (the submitter never approves their own cost, only finance voids, …). A
service's refusal shows as a form error (create/edit) or an admin message (transitions and
bulk actions). The audit trail (``CostEvent``) is view-only everywhere.

The cost and audit-trail lists show what the API would show the same user
(``costs.selectors``: finance, auditors and superusers see every unit's costs); auditors
get view-only pages.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from mptt.admin import MPTTModelAdmin, TreeRelatedFieldListFilter
from mptt.forms import MPTTAdminForm

from costtrack.core.admin import LargeListAdminMixin, ReadOnlyForAuditorsMixin
from costtrack.core.exceptions import ApplicationError
from costtrack.core.roles import is_finance

from . import selectors, services
from .models import Cost, CostCategory, CostEvent, ExchangeRate
from .services.categories import CATEGORY_FIELDS
from .services.costs import EDITABLE_FIELDS
from .views import ACTION_DONE, available_actions, run_action, warning_texts

ADMIN_TRANSITIONS = ("submit", "approve", "reject", "revise", "cancel", "void")


# --- writes through services from admin forms ------------------------------------------


class ServiceFormMixin:
    """Runs the admin's service write inside ``clean()`` (in a savepoint), so a refusal
    becomes a form error and nothing is written; ``save_model`` then adopts the result.
    The admin's change view runs in one transaction, so a later failure rolls it back."""

    service_write = None  # set by ServiceAdminMixin.get_form

    def clean(self):
        cleaned = super().clean()
        if self.errors or self.service_write is None:
            return cleaned
        try:
            with transaction.atomic():
                self.saved_object = self.service_write(cleaned)
        except ApplicationError as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, exc.message)
        except DjangoValidationError as exc:
            if hasattr(exc, "error_dict"):
                for name, errors in exc.message_dict.items():
                    self.add_error(name if name in self.fields else None, errors)
            else:
                self.add_error(None, exc.messages)
        return cleaned

    def _post_clean(self):
        # the service validated and wrote the row; the model form's own checks (e.g. the
        # uniqueness of what was just written) would now only trip over it
        if getattr(self, "saved_object", None) is None:
            super()._post_clean()


class ServiceAdminMixin:
    """``write(request, form, cleaned, change)`` returns the saved object."""

    def write(self, request, form, cleaned, change):
        raise NotImplementedError

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        model_admin = self

        class BoundServiceForm(form_class):
            def service_write(self, cleaned):
                return model_admin.write(request, self, cleaned, change)

        return BoundServiceForm

    def save_model(self, request, obj, form, change):
        saved = getattr(form, "saved_object", None)
        if saved is None:
            raise DjangoPermissionDenied("The form was not written through its service.")
        obj.pk = saved.pk
        obj._state.adding = False
        if not isinstance(obj, Cost):  # Cost.status is protected: no refresh in place
            obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # inlines here are read-only; nothing to write besides what the service wrote
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


def _changed(form, cleaned, allowed) -> dict:
    return {name: cleaned[name] for name in form.changed_data if name in allowed}


def _given(cleaned, allowed) -> dict:
    return {name: value for name, value in cleaned.items() if name in allowed}


# --- costs -----------------------------------------------------------------------------


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
    actions = ["approve_selected", "reject_selected"]

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


# --- exchange rates and categories -----------------------------------------------------


class ExchangeRateAdminForm(ServiceFormMixin, forms.ModelForm):
    class Meta:
        model = ExchangeRate
        fields = ["currency", "date", "rate"]


@admin.register(ExchangeRate)
class ExchangeRateAdmin(ReadOnlyForAuditorsMixin, ServiceAdminMixin, admin.ModelAdmin):
    form = ExchangeRateAdminForm
    list_display = ["currency", "date", "rate", "created_at"]
    list_filter = ["currency"]
    date_hierarchy = "date"
    search_fields = ["currency"]

    def write(self, request, form, cleaned, change):
        fields = _given(cleaned, {"currency", "date", "rate"})
        if change:
            rate = ExchangeRate.objects.get(pk=form.instance.pk)
            return services.exchange_rate_update(
                exchange_rate=rate, acting_user=request.user, **fields
            )
        return services.exchange_rate_set(acting_user=request.user, **fields)

    def delete_model(self, request, obj):
        services.exchange_rate_delete(exchange_rate=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for rate in queryset:
            services.exchange_rate_delete(exchange_rate=rate, acting_user=request.user)


class CostCategoryAdminForm(ServiceFormMixin, MPTTAdminForm):
    class Meta:
        model = CostCategory
        fields = ["name", "slug", "parent", "dimension", "description"]


@admin.register(CostCategory)
class CostCategoryAdmin(ReadOnlyForAuditorsMixin, ServiceAdminMixin, MPTTModelAdmin):
    form = CostCategoryAdminForm
    list_display = ["name", "slug", "dimension"]
    search_fields = ["name", "slug"]
    list_filter = ["dimension"]
    prepopulated_fields = {"slug": ["name"]}

    def write(self, request, form, cleaned, change):
        if change:
            category = CostCategory.objects.get(pk=form.instance.pk)
            return services.category_update(
                category=category,
                acting_user=request.user,
                **_changed(form, cleaned, CATEGORY_FIELDS),
            )
        return services.category_create(
            acting_user=request.user, **_given(cleaned, CATEGORY_FIELDS)
        )

    def delete_model(self, request, obj):
        try:
            services.category_delete(category=obj, acting_user=request.user)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def delete_queryset(self, request, queryset):
        for category in queryset.order_by("-level"):
            try:
                services.category_delete(category=category, acting_user=request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{category}: {exc.message}", messages.ERROR)
