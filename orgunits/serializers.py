from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from costtrack.core.validators import validate_tags

from .models import Entity, OrganizationUnit, Resource

User = get_user_model()


class TagsField(serializers.JSONField):
    """A JSON object of string keys and string values."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            validate_tags(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


class ScopedRelationsMixin:
    """Limit related-object choices to what the requesting user may see.

    An id outside the user's scope is answered exactly like an unknown id, so the API never
    reveals that another unit's object exists.
    """

    scoped_fields: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is None:
            return
        from . import selectors

        for field_name, selector_name in self.scoped_fields.items():
            field = self.fields.get(field_name)
            if field is not None and not field.read_only:
                field.queryset = getattr(selectors, selector_name)(user=request.user)
                label = field_name.replace("_", " ")
                # Same words for "no such id" and "not yours": nothing leaks.
                field.error_messages["does_not_exist"] = f"Unknown {label} id {{pk_value}}."


class UserSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name", "email"]
        read_only_fields = fields


class OrganizationUnitSerializer(ScopedRelationsMixin, serializers.ModelSerializer):
    scoped_fields = {"parent": "unit_list"}
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, allow_null=True
    )
    owner_detail = UserSummarySerializer(source="owner", read_only=True, allow_null=True)

    class Meta:
        model = OrganizationUnit
        fields = [
            "id",
            "name",
            "code",
            "parent",
            "owner",
            "owner_detail",
            "description",
            "active",
            "level",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["level", "created_at", "updated_at"]


class EntitySerializer(ScopedRelationsMixin, serializers.ModelSerializer):
    scoped_fields = {"organization_unit": "unit_list"}
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, allow_null=True
    )
    tags = TagsField(required=False)

    class Meta:
        model = Entity
        fields = [
            "id",
            "name",
            "kind",
            "owner",
            "organization_unit",
            "description",
            "tags",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        # A name is unique per unit; the service checks it and names the ``name`` field.
        validators = []


class ResourceSerializer(ScopedRelationsMixin, serializers.ModelSerializer):
    scoped_fields = {"organization_unit": "unit_list", "entity": "entity_list"}
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), required=False, allow_null=True
    )
    organization_unit = serializers.PrimaryKeyRelatedField(
        queryset=OrganizationUnit.objects.all(), required=False
    )
    tags = TagsField(required=False)

    class Meta:
        model = Resource
        fields = [
            "id",
            "provider",
            "provider_resource_id",
            "account",
            "region",
            "service",
            "name",
            "owner",
            "entity",
            "organization_unit",
            "tags",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        # Uniqueness of (provider, provider_resource_id) is checked by the service, which
        # answers on the ``provider_resource_id`` field.
        validators = []

    def validate(self, attrs):
        creating = self.instance is None
        if creating and not attrs.get("organization_unit") and not attrs.get("entity"):
            raise serializers.ValidationError(
                {"organization_unit": ["Give an organisation unit, or an entity to take it from."]}
            )
        return attrs
