import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.lookups import Exact
from rest_framework import serializers

from costtrack.core.validators import parse_tag_filter

from .models import Entity, OrganizationUnit, Resource


class TagFilterMixin(django_filters.FilterSet):
    tag = django_filters.CharFilter(
        method="filter_tag", help_text="key:value; repeatable, every pair must match."
    )

    def filter_tag(self, queryset, name, value):
        raws = self.data.getlist("tag") if hasattr(self.data, "getlist") else [value]
        for raw in raws:
            try:
                key, tag_value = parse_tag_filter(raw)
            except ValidationError as exc:
                raise serializers.ValidationError({"tag": exc.messages}) from None
            # A plain text comparison of one key rather than ``tags__contains``: it also works
            # on SQLite (embedded mode), and any key (``cost-center``, ``a__b``, ``exact``) is
            # taken literally instead of being parsed as a lookup path.
            queryset = queryset.filter(Exact(KeyTextTransform(key, "tags"), Value(tag_value)))
        return queryset


class OrganizationUnitFilter(django_filters.FilterSet):
    parent = django_filters.NumberFilter(field_name="parent_id")
    root = django_filters.BooleanFilter(field_name="parent", lookup_expr="isnull")
    owner = django_filters.NumberFilter(field_name="owner_id")
    code = django_filters.CharFilter()
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = OrganizationUnit
        fields = ["parent", "owner", "active", "level", "code", "name"]


class EntityFilter(TagFilterMixin):
    owner = django_filters.NumberFilter(field_name="owner_id")
    organization_unit = django_filters.NumberFilter(field_name="organization_unit_id")
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Entity
        fields = ["kind", "owner", "organization_unit", "name"]


class ResourceFilter(TagFilterMixin):
    owner = django_filters.NumberFilter(field_name="owner_id")
    organization_unit = django_filters.NumberFilter(field_name="organization_unit_id")
    entity = django_filters.NumberFilter(field_name="entity_id")
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Resource
        fields = [
            "provider",
            "account",
            "region",
            "service",
            "owner",
            "organization_unit",
            "entity",
        ]
