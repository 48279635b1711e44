"""Admin for exchange rates and the category tree, written through the services."""

from django import forms
from django.contrib import admin, messages
from mptt.admin import MPTTModelAdmin
from mptt.forms import MPTTAdminForm

from costtrack.core.admin import ReadOnlyForAuditorsMixin
from costtrack.core.exceptions import ApplicationError

from .. import services
from ..models import CostCategory, ExchangeRate
from ..services.categories import CATEGORY_FIELDS
from .service_forms import ServiceAdminMixin, ServiceFormMixin, _changed, _given


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
