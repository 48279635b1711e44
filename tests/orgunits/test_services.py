"""Writes to the organisation: tree moves, archiving, locking, memberships, delegations."""

import threading
from datetime import date

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, connections

from costtrack.core.exceptions import Conflict, ValidationError
from orgunits import services
from orgunits.models import Delegation, Entity, Membership, OrganizationUnit, Resource
from tests.orgunits.factories import (
    EntityFactory,
    OrganizationUnitFactory,
    ResourceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def assert_valid_tree():
    """Nested-set invariants of every tree: numbering 1..2n without gaps or repeats, each
    node's range holding exactly its descendants, levels one below the parent's."""
    units = {u.pk: u for u in OrganizationUnit.objects.all()}
    for tree_id in {u.tree_id for u in units.values()}:
        nodes = [u for u in units.values() if u.tree_id == tree_id]
        bounds = sorted([u.lft for u in nodes] + [u.rght for u in nodes])
        assert bounds == list(range(1, 2 * len(nodes) + 1)), f"tree {tree_id} numbering"
        for node in nodes:
            inside = [n for n in nodes if node.lft < n.lft and n.rght < node.rght]
            assert node.rght - node.lft - 1 == 2 * len(inside)
            if node.parent_id is None:
                assert node.level == 0
            else:
                parent = units[node.parent_id]
                assert parent.tree_id == tree_id
                assert parent.lft < node.lft and node.rght < parent.rght
                assert node.level == parent.level + 1


@pytest.fixture
def tree():
    root = OrganizationUnitFactory(name="Acme", code="acme")
    a = OrganizationUnitFactory(name="Alpha", code="a", parent=root)
    a1 = OrganizationUnitFactory(name="Alpha One", code="a1", parent=a)
    a11 = OrganizationUnitFactory(name="Alpha One One", code="a11", parent=a1)
    b = OrganizationUnitFactory(name="Bravo", code="b", parent=root)
    return {u.code: u for u in (root, a, a1, a11, b)}


def fresh(unit):
    return OrganizationUnit.objects.get(pk=unit.pk)


def test_create_places_unit_under_parent(tree):
    unit = services.unit_create(name="Charlie", code="c", parent=tree["acme"])
    assert unit.level == 1
    assert fresh(unit).parent_id == tree["acme"].pk
    assert_valid_tree()


def test_create_with_stale_parent_copy_keeps_tree_valid(tree):
    stale_root = tree["acme"]  # loaded before the later inserts shifted its numbers
    services.unit_create(name="Charlie", code="c", parent=tree["b"])
    services.unit_create(name="Delta", code="d", parent=stale_root)
    assert_valid_tree()


def test_create_duplicate_code_writes_nothing(tree):
    before = OrganizationUnit.objects.count()
    with pytest.raises(DjangoValidationError) as exc:
        services.unit_create(name="Other", code="a")
    assert "code" in exc.value.message_dict
    assert OrganizationUnit.objects.count() == before


def test_move_moves_the_subtree(tree):
    moved = services.unit_move(unit=tree["a"], new_parent=tree["b"])

    a, a1, a11, b = (fresh(tree[c]) for c in ("a", "a1", "a11", "b"))
    assert moved.parent_id == b.pk
    assert (a.level, a1.level, a11.level) == (2, 3, 4)
    assert b.lft < a.lft < a1.lft < a11.lft < a11.rght < a1.rght < a.rght < b.rght
    assert list(b.get_descendants().values_list("code", flat=True)) == ["a", "a1", "a11"]
    assert_valid_tree()


def test_move_to_root_makes_a_new_tree(tree):
    services.unit_move(unit=tree["a1"], new_parent=None)

    a1, a11 = fresh(tree["a1"]), fresh(tree["a11"])
    assert a1.parent_id is None
    assert (a1.level, a11.level) == (0, 1)
    assert a1.tree_id != fresh(tree["acme"]).tree_id
    assert a11.tree_id == a1.tree_id
    assert_valid_tree()


@pytest.mark.parametrize("target", ["a", "a1", "a11"])
def test_move_under_itself_or_a_descendant_is_refused(tree, target):
    snapshot = list(OrganizationUnit.objects.values_list("id", "parent_id", "lft", "rght"))
    with pytest.raises(ValidationError) as exc:
        services.unit_move(unit=tree["a"], new_parent=tree[target])
    assert exc.value.field == "parent"
    assert exc.value.code == "tree_cycle"
    assert list(OrganizationUnit.objects.values_list("id", "parent_id", "lft", "rght")) == snapshot


def test_update_is_all_or_nothing(tree):
    # The move succeeds, then the duplicate code fails: the move must be rolled back too.
    with pytest.raises(DjangoValidationError):
        services.unit_update(unit=tree["a"], parent=tree["b"], code="b")
    a = fresh(tree["a"])
    assert a.parent_id == tree["acme"].pk
    assert a.code == "a"
    assert_valid_tree()


def test_update_rename_resorts_siblings_and_keeps_tree_valid(tree):
    services.unit_update(unit=tree["a"], name="Zulu")
    children = list(fresh(tree["acme"]).get_children().values_list("name", flat=True))
    assert children == ["Bravo", "Zulu"]
    assert_valid_tree()


def test_update_unknown_field_is_refused(tree):
    with pytest.raises(ValidationError):
        services.unit_update(unit=tree["a"], colour="red")


def test_archive_deactivates_the_subtree_only(tree):
    services.unit_archive(unit=tree["a"])
    active = dict(OrganizationUnit.objects.values_list("code", "active"))
    assert active == {"acme": True, "a": False, "a1": False, "a11": False, "b": True}
    assert OrganizationUnit.objects.count() == 5


def test_deactivating_through_update_deactivates_the_subtree(tree):
    services.unit_update(unit=tree["a1"], active=False)
    active = dict(OrganizationUnit.objects.values_list("code", "active"))
    assert active == {"acme": True, "a": True, "a1": False, "a11": False, "b": True}


def test_tree_writes_take_the_advisory_lock_inside_a_transaction(tree, monkeypatch):
    seen = []
    real_lock = services.advisory_xact_lock

    def spy(name):
        real_lock(name)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid() AND granted"
            )
            held = cursor.fetchone()[0]
        seen.append((name, connection.in_atomic_block, held))

    monkeypatch.setattr(services, "advisory_xact_lock", spy)
    services.unit_create(name="Charlie", code="c", parent=tree["acme"])
    services.unit_move(unit=tree["a1"], new_parent=tree["b"])
    services.unit_update(unit=tree["b"], name="Bravo 2")
    services.unit_archive(unit=tree["b"])

    assert len(seen) >= 4
    assert all(name == services.TREE_LOCK for name, _, _ in seen)
    assert all(in_atomic and held >= 1 for _, in_atomic, held in seen)


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_from_two_connections_leave_a_valid_tree():
    root = services.unit_create(name="Acme", code="acme")
    left = services.unit_create(name="Left", code="left", parent=root)
    right = services.unit_create(name="Right", code="right", parent=root)
    barrier = threading.Barrier(2)
    errors = []

    def work(prefix, parent_id):
        try:
            barrier.wait(timeout=10)
            for n in range(8):
                parent = OrganizationUnit.objects.get(pk=parent_id)
                services.unit_create(name=f"{prefix} {n}", code=f"{prefix}-{n}", parent=parent)
                # A stale root copy is exactly what concurrent requests hold.
                services.unit_create(
                    name=f"{prefix} top {n}", code=f"{prefix}-top-{n}", parent=root
                )
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=work, args=("l", left.pk)),
        threading.Thread(target=work, args=("r", right.pk)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert OrganizationUnit.objects.count() == 3 + 2 * 16
    assert_valid_tree()
    assert fresh(left).get_children().count() == 8


# --- memberships and delegations -------------------------------------------------------


def test_membership_set_creates_then_changes_role(tree):
    user = UserFactory()
    services.membership_set(user=user, unit=tree["a"])
    services.membership_set(user=user, unit=tree["a"], role=Membership.Role.APPROVER)
    rows = list(Membership.objects.filter(user=user).values_list("unit__code", "role"))
    assert rows == [("a", "approver")]


def test_membership_set_refuses_an_unknown_role(tree):
    with pytest.raises(DjangoValidationError):
        services.membership_set(user=UserFactory(), unit=tree["a"], role="king")
    assert Membership.objects.count() == 0


def test_membership_remove(tree):
    user = UserFactory()
    services.membership_set(user=user, unit=tree["a"])
    services.membership_remove(user=user, unit=tree["a"])
    assert Membership.objects.count() == 0


def test_delegation_rules():
    alice, bob = UserFactory(), UserFactory()
    with pytest.raises(ValidationError) as exc:
        services.delegation_create(
            delegator=alice, delegate=alice, start_date=date(2025, 1, 1), end_date=date(2025, 1, 2)
        )
    assert exc.value.field == "delegate"
    with pytest.raises(ValidationError) as exc:
        services.delegation_create(
            delegator=alice, delegate=bob, start_date=date(2025, 1, 5), end_date=date(2025, 1, 2)
        )
    assert exc.value.field == "end_date"
    assert Delegation.objects.count() == 0

    delegation = services.delegation_create(
        delegator=alice, delegate=bob, start_date=date(2025, 1, 1), end_date=date(2025, 1, 1)
    )
    services.delegation_update(delegation=delegation, end_date=date(2025, 1, 9))
    assert Delegation.objects.get().end_date == date(2025, 1, 9)
    with pytest.raises(ValidationError):
        services.delegation_update(delegation=delegation, end_date=date(2024, 12, 1))
    assert Delegation.objects.get().end_date == date(2025, 1, 9)


# --- entities and resources ------------------------------------------------------------


def test_entity_create_and_update(tree):
    owner = UserFactory()
    entity = services.entity_create(
        name="Checkout", kind="application", owner=owner, organization_unit=tree["a1"]
    )
    assert Entity.objects.get().owner == owner
    services.entity_update(entity=entity, organization_unit=tree["b"], tags={"app": "checkout"})
    stored = Entity.objects.get()
    assert (stored.organization_unit_id, stored.tags) == (tree["b"].pk, {"app": "checkout"})


def test_entity_with_bad_tags_is_not_written(tree):
    with pytest.raises(DjangoValidationError) as exc:
        services.entity_create(name="X", organization_unit=tree["a"], tags={"n": 1})
    assert "tags" in exc.value.message_dict
    assert Entity.objects.count() == 0


def test_resource_unit_defaults_from_entity(tree):
    entity = EntityFactory(organization_unit=tree["a11"])
    resource = services.resource_create(
        provider="k8s",
        provider_resource_id="prod-eu/payments/deployment/api",
        name="payments-api",
        entity=entity,
    )
    assert resource.organization_unit_id == tree["a11"].pk


def test_resource_duplicate_identity_names_the_field(tree):
    ResourceFactory(provider_resource_id="arn:aws:s3:::logs", organization_unit=tree["a"])
    with pytest.raises(ValidationError) as exc:
        services.resource_create(
            provider="aws",
            provider_resource_id="arn:aws:s3:::logs",
            name="logs",
            organization_unit=tree["b"],
        )
    assert exc.value.field == "provider_resource_id"
    assert Resource.objects.count() == 1


def test_delete_entity_and_resource(tree):
    entity = EntityFactory(organization_unit=tree["a"])
    resource = ResourceFactory(organization_unit=tree["a"], entity=entity)
    services.entity_delete(entity=entity)
    resource.refresh_from_db()
    assert resource.entity_id is None
    services.resource_delete(resource=resource)
    assert (Entity.objects.count(), Resource.objects.count()) == (0, 0)


def test_delete_of_a_referenced_object_is_a_conflict(tree, monkeypatch):
    from django.db.models import ProtectedError

    entity = EntityFactory(organization_unit=tree["a"])

    def protected_delete(*args, **kwargs):
        raise ProtectedError("referenced", {object()})

    monkeypatch.setattr(Entity, "delete", protected_delete)
    with pytest.raises(Conflict):
        services.entity_delete(entity=entity)
    assert Entity.objects.filter(pk=entity.pk).exists()


# --- auditors change nothing ------------------------------------------------------------


def _auditor():
    from tests.orgunits.factories import auditor_user

    return auditor_user(username="aud")


def _snapshot():
    return [
        list(model.objects.order_by("pk").values())
        for model in (OrganizationUnit, Membership, Delegation, Entity, Resource)
    ]


def test_every_write_refuses_an_auditor_and_writes_nothing(tree):
    from costtrack.core.exceptions import PermissionDenied

    aud = _auditor()
    owner, other = UserFactory(username="owner"), UserFactory(username="other")
    services.membership_set(user=other, unit=tree["a"])
    delegation = services.delegation_create(
        delegator=owner, delegate=other, start_date=date(2025, 1, 1), end_date=date(2025, 1, 9)
    )
    entity = EntityFactory(organization_unit=tree["a"])
    resource = ResourceFactory(organization_unit=tree["a"])
    before = _snapshot()
    writes = {
        "unit_create": lambda: services.unit_create(name="N", code="n", acting_user=aud),
        "unit_update": lambda: services.unit_update(unit=tree["b"], name="B2", acting_user=aud),
        "unit_move": lambda: services.unit_move(
            unit=tree["b"], new_parent=tree["a"], acting_user=aud
        ),
        "unit_archive": lambda: services.unit_archive(unit=tree["a"], acting_user=aud),
        "membership_set": lambda: services.membership_set(
            user=aud, unit=tree["a"], role="approver", acting_user=aud
        ),
        "membership_remove": lambda: services.membership_remove(
            user=other, unit=tree["a"], acting_user=aud
        ),
        "delegation_create": lambda: services.delegation_create(
            delegator=owner,
            delegate=aud,
            start_date=date(2025, 1, 1),
            end_date=date(2025, 1, 2),
            acting_user=aud,
        ),
        "delegation_update": lambda: services.delegation_update(
            delegation=delegation, reason="x", acting_user=aud
        ),
        "entity_create": lambda: services.entity_create(
            name="E", kind="service", organization_unit=tree["a"], acting_user=aud
        ),
        "entity_update": lambda: services.entity_update(entity=entity, name="E2", acting_user=aud),
        "entity_delete": lambda: services.entity_delete(entity=entity, acting_user=aud),
        "resource_create": lambda: services.resource_create(
            provider="aws",
            provider_resource_id="i-new",
            organization_unit=tree["a"],
            acting_user=aud,
        ),
        "resource_update": lambda: services.resource_update(
            resource=resource, name="R2", acting_user=aud
        ),
        "resource_delete": lambda: services.resource_delete(resource=resource, acting_user=aud),
    }
    for name, write in writes.items():
        with pytest.raises(PermissionDenied) as refused:
            write()
        assert refused.value.code == "read_only", name
    assert _snapshot() == before
    assert_valid_tree()
