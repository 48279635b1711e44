"""Query-parameter filters of the cost list (SPEC 3.1)."""

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Q
from rest_framework import serializers

from costtrack.core.validators import parse_tag_filter
from orgunits.models import OrganizationUnit, Resource
from orgunits.selectors import subtree_q, unit_range

from .models import Cost, CostCategory, ExchangeRate


def _values(data, name: str) -> list[str]:
    raw = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
    out: list[str] = []
    for item in raw:
        if item is None:
            continue
        if isinstance(item, (list, tuple)):
            out.extend(str(i) for i in item)
        else:
            out.extend(part.strip() for part in str(item).split(",") if part.strip())
    return out


class CostFilter(django_filters.FilterSet):
    status = django_filters.CharFilter(
        method="filter_status", help_text="One or more statuses, comma-separated or repeated."
    )
    organization_unit = django_filters.NumberFilter(method="filter_unit")
    include_descendants = django_filters.BooleanFilter(
        method="filter_noop", help_text="With organization_unit: include its subtree."
    )
    resource = django_filters.NumberFilter(field_name="resource_id")
    entity = django_filters.NumberFilter(
        method="filter_entity", help_text="Costs of the entity, directly or via its resources."
    )
    category = django_filters.CharFilter(
        method="filter_category", help_text="Category id or slug; covers its subcategories."
    )
    currency = django_filters.CharFilter(method="filter_currency")
    provider = django_filters.ChoiceFilter(
        field_name="resource__provider", choices=Resource.Provider.choices
    )
    kind = django_filters.ChoiceFilter(choices=Cost.Kind.choices)
    source = django_filters.ChoiceFilter(choices=Cost.Source.choices)
    incurred_after = django_filters.DateFilter(field_name="incurred_on", lookup_expr="gte")
    incurred_before = django_filters.DateFilter(field_name="incurred_on", lookup_expr="lte")
    incurred_on__gte = django_filters.DateFilter(field_name="incurred_on", lookup_expr="gte")
    incurred_on__lte = django_filters.DateFilter(field_name="incurred_on", lookup_expr="lte")
    incurred_on = django_filters.DateFilter(field_name="incurred_on")
    submitted_by = django_filters.CharFilter(method="filter_user", help_text="User id or 'me'.")
    approver = django_filters.CharFilter(
        method="filter_approver",
        help_text="'me': costs routed to me for a decision (as approver, delegate, approver "
        "member, or finance for costs without approver); or a user id.",
    )
    tags = django_filters.CharFilter(
        method="filter_tags", help_text="key:value; repeatable, every pair must match."
    )
    amount_min = django_filters.NumberFilter(field_name="amount_reporting", lookup_expr="gte")
    amount_max = django_filters.NumberFilter(field_name="amount_reporting", lookup_expr="lte")

    class Meta:
        model = Cost
        fields: list[str] = []

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        request = kwargs.get("request")
        self.user = user or (request.user if request is not None else None)

    def filter_noop(self, queryset, name, value):
        return queryset

    def filter_status(self, queryset, name, value):
        statuses = _values(self.data, "status")
        unknown = set(statuses) - set(Cost.Status.values)
        if unknown:
            raise serializers.ValidationError(
                {"status": [f"Unknown status: {', '.join(sorted(unknown))}."]}
            )
        return queryset.filter(status__in=statuses)

    def filter_unit(self, queryset, name, value):
        include = str(self.data.get("include_descendants", "")).lower() in {"1", "true", "yes"}
        if not include:
            return queryset.filter(organization_unit_id=value)
        unit = OrganizationUnit.objects.filter(pk=value).first()
        if unit is None:
            return queryset.none()
        return queryset.filter(subtree_q([unit_range(unit)], "organization_unit"))

    def filter_entity(self, queryset, name, value):
        return queryset.filter(
            Q(entity_id=value) | Q(entity__isnull=True, resource__entity_id=value)
        )

    def filter_category(self, queryset, name, value):
        lookup = {"pk": int(value)} if str(value).isdigit() else {"slug": value}
        category = CostCategory.objects.filter(**lookup).first()
        if category is None:
            return queryset.none()
        from .selectors import category_with_descendants_q

        return queryset.filter(category_with_descendants_q(category))

    def filter_currency(self, queryset, name, value):
        return queryset.filter(currency__in=[c.upper() for c in _values(self.data, "currency")])

    def _user_id(self, value, field):
        if value == "me":
            return self.user.pk if self.user is not None else None
        if not str(value).isdigit():
            raise serializers.ValidationError({field: ["Give a user id or 'me'."]})
        return int(value)

    def filter_user(self, queryset, name, value):
        return queryset.filter(submitted_by_id=self._user_id(value, name))

    def filter_approver(self, queryset, name, value):
        if value == "me":
            from .selectors import decidable_q

            return queryset.filter(decidable_q(self.user))
        return queryset.filter(approver_id=self._user_id(value, name))

    def filter_tags(self, queryset, name, value):
        condition = Q()
        for raw in _values_raw(self.data, "tags"):
            try:
                key, tag_value = parse_tag_filter(raw)
            except ValidationError as exc:
                raise serializers.ValidationError({"tags": exc.messages}) from None
            condition &= Q(tags__contains={key: tag_value})
        return queryset.filter(condition)


def _values_raw(data, name: str) -> list[str]:
    # tag values may contain commas, so no splitting here
    if hasattr(data, "getlist"):
        return [v for v in data.getlist(name) if v]
    value = data.get(name)
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value] if value else []


class ExchangeRateFilter(django_filters.FilterSet):
    currency = django_filters.CharFilter(method="filter_currency")
    date_after = django_filters.DateFilter(field_name="date", lookup_expr="gte")
    date_before = django_filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = ExchangeRate
        fields = ["date"]

    def filter_currency(self, queryset, name, value):
        return queryset.filter(currency=value.upper())


class CostCategoryFilter(django_filters.FilterSet):
    parent = django_filters.NumberFilter(field_name="parent_id")
    root = django_filters.BooleanFilter(field_name="parent", lookup_expr="isnull")
    slug = django_filters.CharFilter()
    dimension = django_filters.CharFilter()

    class Meta:
        model = CostCategory
        fields = ["parent", "slug", "dimension", "level"]
