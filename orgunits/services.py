"""Every write to the organisation: units (tree writes under a lock), memberships,
delegations, entities and resources. Each service validates with ``full_clean()`` and
raises ``costtrack.core.exceptions`` errors that the API and admin turn into messages.

Every write that names an ``acting_user`` refuses an auditor (``PermissionDenied``, 403):
auditors read the whole organisation and change nothing.
"""

from contextlib import ExitStack
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import Model, ProtectedError

from costtrack.core.db import advisory_xact_lock
from costtrack.core.exceptions import Conflict, ValidationError
from costtrack.core.roles import refuse_read_only

from . import extensions
from .models import Delegation, Entity, Membership, OrganizationUnit, Resource

TREE_LOCK = "orgunits.tree"

UNIT_FIELDS = {"name", "code", "owner", "description", "active"}
ENTITY_FIELDS = {"name", "kind", "owner", "organization_unit", "description", "tags"}
DELEGATION_FIELDS = {"delegator", "delegate", "start_date", "end_date", "reason"}
RESOURCE_FIELDS = {
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
}


def _current_value(instance, name: str):
    """The field's value without loading (or failing on) an unset related object."""
    field = instance._meta.get_field(name)
    if field.is_relation:
        return getattr(instance, field.attname)
    return getattr(instance, name)


def _apply(instance, fields: dict[str, Any], allowed: set[str]) -> list[str]:
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    changed = []
    for name, value in fields.items():
        field = instance._meta.get_field(name)
        new = value.pk if field.is_relation and isinstance(value, Model) else value
        if instance.pk is None or _current_value(instance, name) != new:
            setattr(instance, name, value)
            changed.append(name)
    return changed


@transaction.atomic
def unit_create(
    *,
    name: str,
    code: str,
    parent: OrganizationUnit | None = None,
    owner=None,
    description: str = "",
    active: bool = True,
    acting_user=None,
) -> OrganizationUnit:
    """Create a unit under ``parent`` (or as a new root).

    The tree is written under an advisory lock so concurrent inserts and moves never corrupt
    the nested-set numbering. Raises Django ``ValidationError`` for a duplicate code.
    """
    refuse_read_only(acting_user)
    advisory_xact_lock(TREE_LOCK)
    if parent is not None:
        # The caller's copy may predate another transaction's tree write; read it under the lock.
        parent.refresh_from_db()
    unit = OrganizationUnit(
        name=name, code=code, parent=parent, owner=owner, description=description, active=active
    )
    unit.full_clean()
    unit.save()
    return unit


@transaction.atomic
def unit_update(*, unit: OrganizationUnit, acting_user=None, **fields) -> OrganizationUnit:
    """Change a unit's fields; a new ``parent`` in ``fields`` moves it (see ``unit_move``).

    Runs under the tree lock: renaming re-sorts the unit among its siblings, which rewrites
    the nested-set numbering. Deactivating a unit deactivates its subtree.
    Raises ``ValidationError`` (field ``parent``) for a cycle, Django ``ValidationError``
    for invalid fields (e.g. a duplicate code). Nothing is written when it raises.
    """
    refuse_read_only(acting_user)
    advisory_xact_lock(TREE_LOCK)
    parent_given = "parent" in fields
    new_parent = fields.pop("parent", None)
    unit.refresh_from_db()
    if parent_given and _pk(new_parent) != unit.parent_id:
        unit = unit_move(unit=unit, new_parent=new_parent, acting_user=acting_user)
    changed = _apply(unit, fields, UNIT_FIELDS)
    if changed:
        unit.full_clean()
        unit.save()
        unit.refresh_from_db()
    if "active" in changed and not unit.active:
        unit.get_descendants().update(active=False)
    return unit


def _pk(obj) -> int | None:
    return None if obj is None else obj.pk


def unit_move_check(*, unit: OrganizationUnit, new_parent: OrganizationUnit | None) -> None:
    """Raise ``ValidationError`` (field ``parent``) if the move would put a unit under itself."""
    if new_parent is None or unit.pk is None:
        return
    if new_parent.pk == unit.pk or (
        new_parent.tree_id == unit.tree_id and unit.lft < new_parent.lft < unit.rght
    ):
        raise ValidationError(
            f"Cannot move '{unit.code}' under '{new_parent.code}': "
            "a unit cannot be moved under itself or one of its descendants.",
            field="parent",
            code="tree_cycle",
        )


@transaction.atomic
def unit_move(
    *, unit: OrganizationUnit, new_parent: OrganizationUnit | None, acting_user=None
) -> OrganizationUnit:
    """Move a unit and its subtree under ``new_parent`` (``None`` makes it a root).

    The subtree keeps its shape; the unit takes its place among its new siblings by name.
    Refuses (``ValidationError`` on ``parent``) a move under the unit itself or one of its
    descendants, which would make a cycle; nothing is written then.
    """
    refuse_read_only(acting_user)
    advisory_xact_lock(TREE_LOCK)
    unit.refresh_from_db()
    if new_parent is not None:
        new_parent.refresh_from_db()
    unit_move_check(unit=unit, new_parent=new_parent)
    if _pk(new_parent) != unit.parent_id:
        subtree = list(unit.get_descendants(include_self=True).values_list("pk", flat=True))
        with ExitStack() as hooks:
            for hook in extensions.move_hooks():
                hooks.enter_context(hook(unit_ids=subtree))
            unit.parent = new_parent
            unit.save()
    unit.refresh_from_db()
    return unit


@transaction.atomic
def unit_archive(*, unit: OrganizationUnit, acting_user=None) -> OrganizationUnit:
    """Deactivate a unit and its whole subtree. History stays; nothing is deleted."""
    refuse_read_only(acting_user)
    advisory_xact_lock(TREE_LOCK)
    unit.refresh_from_db()
    unit.get_descendants(include_self=True).update(active=False)
    unit.refresh_from_db()
    return unit


@transaction.atomic
def membership_set(
    *, user, unit: OrganizationUnit, role: str = Membership.Role.MEMBER, acting_user=None
) -> Membership:
    """Make ``user`` a member (or approver) of ``unit``, or change the role of an existing one.

    Raises Django ``ValidationError`` for an unknown role.
    """
    refuse_read_only(acting_user)
    membership = Membership.objects.filter(user=user, unit=unit).first()
    if membership is None:
        membership = Membership(user=user, unit=unit)
    if membership.pk is None or membership.role != role:
        membership.role = role
        membership.full_clean()
        membership.save()
    return membership


@transaction.atomic
def membership_remove(*, user, unit: OrganizationUnit, acting_user=None) -> None:
    refuse_read_only(acting_user)
    Membership.objects.filter(user=user, unit=unit).delete()


@transaction.atomic
def delegation_create(
    *,
    delegator,
    delegate,
    start_date: date,
    end_date: date,
    reason: str = "",
    acting_user=None,
) -> Delegation:
    """Let ``delegate`` approve for ``delegator`` from ``start_date`` to ``end_date`` inclusive."""
    refuse_read_only(acting_user)
    if delegator.pk == delegate.pk:
        raise ValidationError("Nobody can delegate to themselves.", field="delegate")
    if end_date < start_date:
        raise ValidationError("The end date is before the start date.", field="end_date")
    delegation = Delegation(
        delegator=delegator,
        delegate=delegate,
        start_date=start_date,
        end_date=end_date,
        reason=reason,
    )
    delegation.full_clean()
    delegation.save()
    return delegation


@transaction.atomic
def delegation_update(*, delegation: Delegation, acting_user=None, **fields) -> Delegation:
    """Change a delegation's people, dates or reason; the same rules as ``delegation_create``."""
    refuse_read_only(acting_user)
    _apply(delegation, fields, DELEGATION_FIELDS)
    if delegation.delegator_id == delegation.delegate_id:
        raise ValidationError("Nobody can delegate to themselves.", field="delegate")
    if delegation.end_date < delegation.start_date:
        raise ValidationError("The end date is before the start date.", field="end_date")
    delegation.full_clean()
    delegation.save()
    return delegation


def _check_entity_name(entity: Entity) -> None:
    clash = Entity.objects.filter(
        organization_unit_id=entity.organization_unit_id, name=entity.name
    ).exclude(pk=entity.pk)
    if entity.organization_unit_id and clash.exists():
        raise ValidationError(
            f"This unit already has an entity named '{entity.name}'.",
            field="name",
            code="duplicate",
        )


@transaction.atomic
def entity_create(*, acting_user=None, **fields) -> Entity:
    """Create an entity (name, kind, owner, organization_unit, description, tags).

    Raises ``ValidationError`` on ``name`` when the unit already has an entity of that name,
    Django ``ValidationError`` for other invalid fields (e.g. tags that are not strings).
    """
    refuse_read_only(acting_user)
    entity = Entity()
    _apply(entity, fields, ENTITY_FIELDS)
    _check_entity_name(entity)
    entity.full_clean()
    entity.save()
    return entity


@transaction.atomic
def entity_update(*, entity: Entity, acting_user=None, **fields) -> Entity:
    """Change an entity's fields; the same validation as ``entity_create``."""
    refuse_read_only(acting_user)
    if _apply(entity, fields, ENTITY_FIELDS):
        _check_entity_name(entity)
        entity.full_clean()
        entity.save()
    return entity


def _resource_defaults(resource: Resource) -> None:
    if resource.entity_id and not resource.organization_unit_id:
        resource.organization_unit_id = resource.entity.organization_unit_id


def _check_resource_identity(resource: Resource) -> None:
    clash = Resource.objects.filter(
        provider=resource.provider, provider_resource_id=resource.provider_resource_id
    ).exclude(pk=resource.pk)
    if clash.exists():
        raise ValidationError(
            f"A {resource.provider} resource with id '{resource.provider_resource_id}' "
            "already exists.",
            field="provider_resource_id",
            code="duplicate",
        )


@transaction.atomic
def resource_create(*, acting_user=None, **fields) -> Resource:
    """Create a resource; its unit defaults to its entity's unit.

    Raises ``ValidationError`` on ``provider_resource_id`` when (provider, id) is taken,
    Django ``ValidationError`` for other invalid fields.
    """
    refuse_read_only(acting_user)
    resource = Resource()
    _apply(resource, fields, RESOURCE_FIELDS)
    _resource_defaults(resource)
    _check_resource_identity(resource)
    resource.full_clean()
    resource.save()
    return resource


@transaction.atomic
def resource_update(*, resource: Resource, acting_user=None, **fields) -> Resource:
    """Change a resource's fields; the same validation as ``resource_create``."""
    refuse_read_only(acting_user)
    if _apply(resource, fields, RESOURCE_FIELDS):
        _resource_defaults(resource)
        _check_resource_identity(resource)
        resource.full_clean()
        resource.save()
    return resource


def _delete(instance, label: str) -> None:
    try:
        with transaction.atomic():
            instance.delete()
    except ProtectedError as exc:
        raise Conflict(
            f"This {label} is still referenced ({len(exc.protected_objects)} record(s)) "
            "and cannot be deleted.",
            code="protected",
        ) from None


def entity_delete(*, entity: Entity, acting_user=None) -> None:
    refuse_read_only(acting_user)
    _delete(entity, "entity")


def resource_delete(*, resource: Resource, acting_user=None) -> None:
    refuse_read_only(acting_user)
    _delete(resource, "resource")
