"""Django admin for the organisation: every page opens, every write goes through services."""

from datetime import date

import pytest

from orgunits import services
from orgunits.models import Delegation, Entity, Membership, OrganizationUnit, Resource
from tests.orgunits.factories import UserFactory, finance_user
from tests.orgunits.test_services import assert_valid_tree

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, org):
    user = finance_user(username="boss", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def tree_snapshot():
    return list(
        OrganizationUnit.objects.order_by("pk").values_list(
            "pk", "parent_id", "tree_id", "lft", "rght", "level", "name"
        )
    )


def change_form_data(response) -> dict:
    """The POST body the admin change page would send back unchanged."""
    data = {}
    form = response.context["adminform"].form
    for name in form.fields:
        value = form[name].value()
        if value is not None:
            data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for key, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{key}"] = value
        for subform in formset.forms:
            for name in subform.fields:
                value = subform[name].value()
                if value is not None:
                    data[subform.add_prefix(name)] = value
    return data


MODELS = ["organizationunit", "membership", "delegation", "entity", "resource"]


@pytest.mark.parametrize("model", MODELS)
def test_every_admin_page_opens(admin_client, org, model):
    delegation = services.delegation_create(
        delegator=org.users["owner"],
        delegate=org.users["approver"],
        start_date=date(2025, 1, 1),
        end_date=date(2025, 1, 31),
    )
    instance = {
        "organizationunit": org.a,
        "membership": Membership.objects.first(),
        "delegation": delegation,
        "entity": org.ent_a1,
        "resource": org.res_a1,
    }[model]
    base = f"/admin/orgunits/{model}/"
    for path in (base, f"{base}add/", f"{base}{instance.pk}/change/"):
        resp = admin_client.get(path)
        assert resp.status_code == 200, path
    assert str(instance.pk) in admin_client.get(base).content.decode()


def test_non_staff_member_cannot_open_the_admin(client, org):
    client.force_login(org.users["member"])
    resp = client.get("/admin/orgunits/organizationunit/")
    assert resp.status_code == 302
    assert "/admin/login/" in resp["Location"]


@pytest.mark.parametrize("target", ["a", "a1"])
def test_moving_a_unit_under_itself_shows_an_error_and_changes_nothing(admin_client, org, target):
    url = f"/admin/orgunits/organizationunit/{org.a.pk}/change/"
    data = change_form_data(admin_client.get(url))
    data.update(parent=getattr(org, target).pk, name="Renamed")
    before = tree_snapshot()

    resp = admin_client.post(url, data)

    assert resp.status_code == 200  # the form again, not a redirect
    # The subtree is not even offered as a parent; a forged choice is an error on the field.
    assert resp.context["adminform"].form.errors["parent"]
    assert "errornote" in resp.content.decode()
    assert tree_snapshot() == before


def test_admin_form_explains_a_cycle_when_the_choice_is_offered(org):
    from orgunits.admin import OrganizationUnitAdminForm

    class Form(OrganizationUnitAdminForm):
        class Meta:
            model = OrganizationUnit
            fields = ["name", "code", "parent"]

    form = Form(data={"name": "Alpha", "code": "unit-a", "parent": org.a1.pk}, instance=org.a)
    form.fields["parent"].queryset = OrganizationUnit.objects.all()

    assert not form.is_valid()
    assert "one of its descendants" in form.errors["parent"][0]


def test_admin_move_goes_through_the_service_and_moves_the_subtree(admin_client, org):
    url = f"/admin/orgunits/organizationunit/{org.a.pk}/change/"
    data = change_form_data(admin_client.get(url))
    data.update(parent=org.b.pk)

    resp = admin_client.post(url, data)

    assert resp.status_code == 302
    a, a1 = OrganizationUnit.objects.get(pk=org.a.pk), OrganizationUnit.objects.get(pk=org.a1.pk)
    assert a.parent_id == org.b.pk
    assert (a.level, a1.level) == (2, 3)
    assert Membership.objects.filter(unit=a).count() == 2
    assert_valid_tree()


def test_admin_adds_unit_with_a_membership_inline(admin_client, org):
    newcomer = UserFactory(username="newcomer")
    data = change_form_data(admin_client.get("/admin/orgunits/organizationunit/add/"))
    data.update(
        {
            "name": "Charlie",
            "code": "unit-c",
            "parent": org.root.pk,
            "active": "on",
            "memberships-TOTAL_FORMS": 1,
            "memberships-0-user": newcomer.pk,
            "memberships-0-role": "approver",
        }
    )

    resp = admin_client.post("/admin/orgunits/organizationunit/add/", data)

    assert resp.status_code == 302, resp.context and resp.context["adminform"].form.errors
    unit = OrganizationUnit.objects.get(code="unit-c")
    assert (unit.parent_id, unit.level) == (org.root.pk, 1)
    assert list(unit.memberships.values_list("user__username", "role")) == [
        ("newcomer", "approver")
    ]
    assert_valid_tree()


def test_admin_add_with_duplicate_code_shows_an_error(admin_client, org):
    data = change_form_data(admin_client.get("/admin/orgunits/organizationunit/add/"))
    data.update(name="Dup", code="unit-a", active="on")
    before = OrganizationUnit.objects.count()
    resp = admin_client.post("/admin/orgunits/organizationunit/add/", data)
    assert resp.status_code == 200
    assert resp.context["adminform"].form.errors["code"]
    assert OrganizationUnit.objects.count() == before


def test_admin_archive_action_deactivates_subtree(admin_client, org):
    resp = admin_client.post(
        "/admin/orgunits/organizationunit/",
        {"action": "archive_units", "_selected_action": [org.a.pk]},
    )
    assert resp.status_code == 302
    active = dict(OrganizationUnit.objects.values_list("code", "active"))
    assert active == {"acme": True, "unit-a": False, "unit-a1": False, "unit-b": True}


def test_drag_and_drop_move_is_checked_by_the_service(admin_client, org):
    before = tree_snapshot()
    bad = admin_client.post(
        "/admin/orgunits/organizationunit/",
        {
            "cmd": "move_node",
            "cut_item": org.a.pk,
            "pasted_on": org.a1.pk,
            "position": "last-child",
        },
    )
    assert bad.content.startswith(b"FAIL")
    assert tree_snapshot() == before

    good = admin_client.post(
        "/admin/orgunits/organizationunit/",
        {"cmd": "move_node", "cut_item": org.a1.pk, "pasted_on": org.b.pk, "position": "left"},
    )
    assert good.content.startswith(b"OK")
    assert OrganizationUnit.objects.get(pk=org.a1.pk).parent_id == org.root.pk
    assert_valid_tree()


def test_admin_creates_entity_and_refuses_a_duplicate_resource(admin_client, org):
    resp = admin_client.post(
        "/admin/orgunits/entity/add/",
        {"name": "Search", "kind": "service", "organization_unit": org.b.pk, "tags": "{}"},
    )
    assert resp.status_code == 302
    assert Entity.objects.filter(name="Search", organization_unit=org.b).exists()

    before = Resource.objects.count()
    resp = admin_client.post(
        "/admin/orgunits/resource/add/",
        {
            "provider": "aws",
            "provider_resource_id": org.res_a1.provider_resource_id,
            "name": "copy",
            "organization_unit": org.b.pk,
            "tags": "{}",
        },
    )
    assert resp.status_code == 200
    assert resp.context["adminform"].form.errors
    assert Resource.objects.count() == before


def test_admin_refuses_tags_that_are_not_strings(admin_client, org):
    url = f"/admin/orgunits/resource/{org.res_a1.pk}/change/"
    data = change_form_data(admin_client.get(url))
    data["tags"] = '{"env": 3}'
    resp = admin_client.post(url, data)
    assert resp.status_code == 200
    assert "tags" in resp.context["adminform"].form.errors
    org.res_a1.refresh_from_db()
    assert org.res_a1.tags == {"team": "alpha", "env": "prod"}


def test_admin_delegation_with_reversed_dates_is_refused(admin_client, org):
    resp = admin_client.post(
        "/admin/orgunits/delegation/add/",
        {
            "delegator": org.users["owner"].pk,
            "delegate": org.users["approver"].pk,
            "start_date": "2025-02-10",
            "end_date": "2025-02-01",
        },
    )
    assert resp.status_code == 200
    assert Delegation.objects.count() == 0


def test_admin_changelists_run_bounded_queries(admin_client, org, django_assert_max_num_queries):
    from orgunits import demo

    demo.seed_organisation()  # 43 units, 30 entities, 200 resources, 38 memberships
    for model in ("organizationunit", "resource", "entity", "membership", "delegation"):
        with django_assert_max_num_queries(20):
            resp = admin_client.get(f"/admin/orgunits/{model}/")
        assert resp.status_code == 200, model


def _staff_with_every_orgunits_permission(user):
    from django.contrib.auth.models import Permission

    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="orgunits"))
    return type(user).objects.get(pk=user.pk)


def _everything():
    return [
        list(model.objects.order_by("pk").values())
        for model in (OrganizationUnit, Membership, Delegation, Entity, Resource)
    ]


def test_auditor_gets_view_only_pages_whatever_permissions_they_hold(client, org):
    aud = _staff_with_every_orgunits_permission(org.users["auditor"])
    delegation = services.delegation_create(
        delegator=org.users["owner"],
        delegate=org.users["approver"],
        start_date=date(2025, 1, 1),
        end_date=date(2025, 1, 31),
    )
    client.force_login(aud)
    before = _everything()
    instances = {
        "organizationunit": org.a,
        "membership": Membership.objects.first(),
        "delegation": delegation,
        "entity": org.ent_a1,
        "resource": org.res_a1,
    }
    for model, instance in instances.items():
        base = f"/admin/orgunits/{model}/"
        assert client.get(base).status_code == 200, model  # reads everything
        assert client.get(f"{base}{instance.pk}/change/").status_code == 200, model
        assert client.get(f"{base}add/").status_code == 403, model
        assert client.post(f"{base}add/", {"name": "New"}).status_code == 403, model
        assert client.post(f"{base}{instance.pk}/change/", {"name": "X"}).status_code == 403
        assert client.post(f"{base}{instance.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(
        "/admin/orgunits/organizationunit/",
        {"action": "archive_units", "_selected_action": [org.a.pk]},
    )
    moved = client.post(
        "/admin/orgunits/organizationunit/",
        {"cmd": "move_node", "cut_item": org.a1.pk, "pasted_on": org.b.pk, "position": "left"},
    )
    assert moved.content.startswith(b"FAIL")
    assert _everything() == before


def test_staff_outside_finance_see_only_their_subtree(client, org):
    member = _staff_with_every_orgunits_permission(org.users["member"])
    client.force_login(member)

    def listed(model):
        return {
            str(o.pk) for o in client.get(f"/admin/orgunits/{model}/").context["cl"].result_list
        }

    assert listed("organizationunit") == {str(org.a.pk), str(org.a1.pk)}
    assert listed("entity") == {str(org.ent_a1.pk)}
    assert listed("resource") == {str(org.res_a1.pk)}
    assert listed("membership") == {
        str(m.pk) for m in Membership.objects.filter(unit__in=[org.a, org.a1])
    }
    response = client.get(f"/admin/orgunits/resource/{org.res_b.pk}/change/")
    assert response.status_code == 302  # "doesn't exist", back to the admin index


def test_staff_outside_finance_see_only_their_own_delegations(client, org):
    member = org.users["member"]
    others = [org.users["approver"], org.users["owner"], UserFactory(username="bystander")]
    mine = services.delegation_create(
        delegator=member,
        delegate=others[0],
        start_date=date(2030, 1, 1),
        end_date=date(2030, 1, 9),
        acting_user=finance_user(username="fin-deleg"),
    )
    covering = services.delegation_create(
        delegator=others[1],
        delegate=member,
        start_date=date(2030, 2, 1),
        end_date=date(2030, 2, 9),
        acting_user=finance_user(username="fin-deleg-2"),
    )
    elsewhere = services.delegation_create(
        delegator=others[1],
        delegate=others[2],
        start_date=date(2030, 3, 1),
        end_date=date(2030, 3, 9),
        acting_user=finance_user(username="fin-deleg-3"),
    )
    client.force_login(_staff_with_every_orgunits_permission(member))
    listed = {o.pk for o in client.get("/admin/orgunits/delegation/").context["cl"].result_list}
    assert listed == {mine.pk, covering.pk}
    assert elsewhere.pk not in listed
