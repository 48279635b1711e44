"""REST API for org units, entities and resources: who may do what, bad input, filters, cost."""

import json

import pytest
from rest_framework.test import APIClient

from orgunits.models import Entity, OrganizationUnit, Resource
from tests.orgunits.factories import (
    OrganizationUnitFactory,
    ResourceFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "finance", "auditor", "member", "approver", "owner"]
READS_ALL = {"finance", "auditor"}
UNIT_A_ROLES = {"member", "approver", "owner"}

ENDPOINTS = {
    "org-units": {"model": OrganizationUnit, "mine": "a1", "theirs": "b"},
    "entities": {"model": Entity, "mine": "ent_a1", "theirs": "ent_b"},
    "resources": {"model": Resource, "mine": "res_a1", "theirs": "res_b"},
}


def create_payload(endpoint, org):
    return {
        "org-units": {"name": "Gamma", "code": "unit-g", "parent": org.a.pk},
        "entities": {"name": "Billing", "kind": "service", "organization_unit": org.a1.pk},
        "resources": {
            "provider": "aws",
            "provider_resource_id": "arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc",
            "name": "billing-vm",
            "organization_unit": org.a1.pk,
            "tags": {"team": "alpha"},
        },
    }[endpoint]


def url(endpoint, pk=None):
    return f"/api/v1/{endpoint}/" + (f"{pk}/" if pk else "")


def names(resp):
    return {row["name"] for row in resp.json()["results"]}


# --- reading ---------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", ROLES)
def test_list_is_scoped_by_role(org, client_as, role, endpoint):
    resp = client_as(org.users[role]).get(url(endpoint))

    if role == "anonymous":
        assert resp.status_code == 401
        assert "results" not in resp.json()
        return
    assert resp.status_code == 200
    all_names = set(ENDPOINTS[endpoint]["model"].objects.values_list("name", flat=True))
    theirs = getattr(org, ENDPOINTS[endpoint]["theirs"])
    mine = getattr(org, ENDPOINTS[endpoint]["mine"])
    if role in READS_ALL:
        assert names(resp) == all_names
    else:
        assert mine.name in names(resp)
        assert theirs.name not in names(resp)
        if endpoint == "org-units":
            assert names(resp) == {"Alpha", "Alpha One"}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", ROLES)
def test_retrieve_own_and_other_units_objects(org, client_as, role, endpoint):
    client = client_as(org.users[role])
    mine = getattr(org, ENDPOINTS[endpoint]["mine"])
    theirs = getattr(org, ENDPOINTS[endpoint]["theirs"])

    own = client.get(url(endpoint, mine.pk))
    other = client.get(url(endpoint, theirs.pk))

    if role == "anonymous":
        assert (own.status_code, other.status_code) == (401, 401)
        assert mine.name not in own.content.decode()
        return
    assert own.status_code == 200
    assert own.json()["name"] == mine.name
    if role in READS_ALL:
        assert other.status_code == 200
        assert other.json()["name"] == theirs.name
    else:
        assert other.status_code == 404
        assert other.json()["code"] == "not_found"
        assert theirs.name not in other.content.decode()


# --- writing ---------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", ROLES)
def test_create_only_by_finance(org, client_as, role, endpoint):
    model = ENDPOINTS[endpoint]["model"]
    before = model.objects.count()

    resp = client_as(org.users[role]).post(url(endpoint), create_payload(endpoint, org))

    if role == "finance":
        assert resp.status_code == 201, resp.content
        assert model.objects.count() == before + 1
        assert resp.json()["name"] == create_payload(endpoint, org)["name"]
    else:
        assert resp.status_code == (401 if role == "anonymous" else 403)
        assert model.objects.count() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", ROLES)
def test_patch_only_by_finance(org, client_as, role, endpoint):
    client = client_as(org.users[role])
    for which in ("mine", "theirs"):
        obj = getattr(org, ENDPOINTS[endpoint][which])
        old_name = obj.name

        resp = client.patch(url(endpoint, obj.pk), {"name": f"Renamed {which}"})

        obj.refresh_from_db()
        if role == "finance":
            assert resp.status_code == 200, resp.content
            assert resp.json()["name"] == obj.name == f"Renamed {which}"
        else:
            expected = {401} if role == "anonymous" else {403, 404}
            assert resp.status_code in expected
            assert obj.name == old_name
            assert old_name not in resp.content.decode() or which == "mine"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", ROLES)
def test_delete_only_by_finance(org, client_as, role, endpoint):
    model = ENDPOINTS[endpoint]["model"]
    obj = getattr(org, ENDPOINTS[endpoint]["theirs"])
    before = model.objects.count()

    resp = client_as(org.users[role]).delete(url(endpoint, obj.pk))

    if role != "finance":
        assert resp.status_code == (401 if role == "anonymous" else 403)
        assert model.objects.count() == before
        if endpoint == "org-units":
            obj.refresh_from_db()
            assert obj.active
        return
    if endpoint == "org-units":
        # Units are archived with their subtree, never deleted: history stays.
        assert resp.status_code == 200
        assert resp.json()["active"] is False
        assert model.objects.count() == before
        obj.refresh_from_db()
        assert not obj.active
    else:
        assert resp.status_code == 204
        assert model.objects.count() == before - 1


def test_member_cannot_write_into_own_unit_either(org, client_as):
    resp = client_as(org.users["member"]).post(url("resources"), create_payload("resources", org))
    assert resp.status_code == 403
    assert resp.json()["code"] == "permission_denied"


def test_member_of_sibling_unit_sees_nothing_of_a(org, client_as):
    outsider = UserFactory(username="outsider")
    OrganizationUnitFactory(code="lonely", name="Lonely", owner=outsider)
    client = client_as(outsider)

    assert names(client.get(url("org-units"))) == {"Lonely"}
    assert client.get(url("resources")).json()["count"] == 0
    assert client.get(url("entities", org.ent_a1.pk)).status_code == 404


def test_user_without_units_sees_empty_lists(org, client_as):
    client = client_as(UserFactory(username="nobody"))
    for endpoint in ENDPOINTS:
        resp = client.get(url(endpoint))
        assert resp.status_code == 200
        assert resp.json()["count"] == 0


# --- token authentication --------------------------------------------------------------


def test_token_endpoint_and_token_authentication(org):
    UserFactory(username="tokenuser", password="s3cret-pass")
    client = APIClient()

    resp = client.post("/api/v1/auth/token/", {"username": "tokenuser", "password": "s3cret-pass"})

    assert resp.status_code == 200
    token = resp.json()["token"]
    assert list(resp.json()) == ["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(url("org-units")).status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get(url("org-units")).status_code == 401


def test_token_endpoint_refuses_a_wrong_password(org):
    UserFactory(username="tokenuser", password="s3cret-pass")
    resp = APIClient().post("/api/v1/auth/token/", {"username": "tokenuser", "password": "nope"})
    assert resp.status_code == 400
    assert "non_field_errors" in resp.json()
    assert "token" not in resp.json()


# --- bad input: 400 naming the field, nothing written ----------------------------------


@pytest.fixture
def fin(org, client_as):
    return client_as(org.users["finance"])


def counts():
    return (OrganizationUnit.objects.count(), Entity.objects.count(), Resource.objects.count())


def test_unknown_parent(fin):
    before = counts()
    resp = fin.post(url("org-units"), {"name": "X", "code": "x", "parent": 999999})
    assert resp.status_code == 400
    assert resp.json() == {"parent": ["Unknown parent id 999999."]}
    assert counts() == before


def test_another_units_id_as_parent_looks_unknown(org, client_as):
    # Even if members could write, they must not learn that unit-b exists.
    from orgunits.serializers import OrganizationUnitSerializer

    request = type("Request", (), {"user": org.users["member"]})()
    serializer = OrganizationUnitSerializer(
        data={"name": "X", "code": "x", "parent": org.b.pk}, context={"request": request}
    )
    assert not serializer.is_valid()
    assert serializer.errors["parent"] == [f"Unknown parent id {org.b.pk}."]


def test_unknown_entity_for_a_resource(fin, org):
    payload = {**create_payload("resources", org), "entity": 424242}
    resp = fin.post(url("resources"), payload)
    assert resp.status_code == 400
    assert resp.json() == {"entity": ["Unknown entity id 424242."]}


def test_duplicate_code(fin, org):
    before = counts()
    resp = fin.post(url("org-units"), {"name": "Other", "code": "unit-a"})
    assert resp.status_code == 400
    assert list(resp.json()) == ["code"]
    assert counts() == before


def test_duplicate_code_on_update(fin, org):
    resp = fin.patch(url("org-units", org.b.pk), {"code": "unit-a"})
    assert resp.status_code == 400
    assert list(resp.json()) == ["code"]
    org.b.refresh_from_db()
    assert org.b.code == "unit-b"


@pytest.mark.parametrize("target", ["self", "child", "grandchild"])
def test_move_into_own_subtree_is_a_cycle(fin, org, target):
    deep = OrganizationUnitFactory(name="Deep", code="deep", parent=org.a1)
    new_parent = {"self": org.a, "child": org.a1, "grandchild": deep}[target]
    snapshot = list(OrganizationUnit.objects.values_list("id", "parent_id", "lft", "rght", "level"))

    resp = fin.patch(url("org-units", org.a.pk), {"parent": new_parent.pk, "name": "Changed"})

    assert resp.status_code == 400
    assert list(resp.json()) == ["parent"]
    assert "descendants" in resp.json()["parent"][0]
    after = list(OrganizationUnit.objects.values_list("id", "parent_id", "lft", "rght", "level"))
    assert after == snapshot
    org.a.refresh_from_db()
    assert org.a.name == "Alpha"


def test_unknown_provider(fin, org):
    before = counts()
    payload = {**create_payload("resources", org), "provider": "oracle-cloud"}
    resp = fin.post(url("resources"), payload)
    assert resp.status_code == 400
    assert list(resp.json()) == ["provider"]
    assert counts() == before


@pytest.mark.parametrize(
    "tags",
    [["team", "alpha"], {"cost": 12}, {"team": {"name": "alpha"}}, "team=alpha", 7, None],
    ids=["list", "number-value", "nested-object", "string", "number", "null"],
)
@pytest.mark.parametrize("endpoint", ["entities", "resources"])
def test_tags_must_be_an_object_of_strings(fin, org, endpoint, tags):
    before = counts()
    payload = {**create_payload(endpoint, org), "tags": tags}
    resp = fin.post(url(endpoint), json.dumps(payload), content_type="application/json")
    assert resp.status_code == 400
    assert list(resp.json()) == ["tags"]
    assert counts() == before


def test_tags_invalid_on_update_change_nothing(fin, org):
    resp = fin.patch(url("resources", org.res_a1.pk), {"tags": {"env": 1}, "name": "x"})
    assert resp.status_code == 400
    assert list(resp.json()) == ["tags"]
    org.res_a1.refresh_from_db()
    assert org.res_a1.tags == {"team": "alpha", "env": "prod"}
    assert org.res_a1.name == "res-a1"


def test_duplicate_provider_resource_id(fin, org):
    before = counts()
    payload = {
        **create_payload("resources", org),
        "provider_resource_id": org.res_a1.provider_resource_id,
    }
    resp = fin.post(url("resources"), payload)
    assert resp.status_code == 400
    assert list(resp.json()) == ["provider_resource_id"]
    assert counts() == before


def test_same_provider_id_under_another_provider_is_fine(fin, org):
    payload = {
        **create_payload("resources", org),
        "provider": "other",
        "provider_resource_id": org.res_a1.provider_resource_id,
    }
    assert fin.post(url("resources"), payload).status_code == 201


def test_duplicate_provider_resource_id_on_update(fin, org):
    resp = fin.patch(
        url("resources", org.res_b.pk),
        {"provider": "aws", "provider_resource_id": org.res_a1.provider_resource_id},
    )
    assert resp.status_code == 400
    assert list(resp.json()) == ["provider_resource_id"]
    org.res_b.refresh_from_db()
    assert org.res_b.provider == "gcp"


def test_duplicate_entity_name_in_unit(fin, org):
    before = counts()
    resp = fin.post(url("entities"), {"name": "ent-a1", "organization_unit": org.a1.pk})
    assert resp.status_code == 400
    assert list(resp.json()) == ["name"]
    assert counts() == before


def test_resource_needs_a_unit_or_entity(fin, org):
    payload = create_payload("resources", org)
    del payload["organization_unit"]
    before = counts()
    resp = fin.post(url("resources"), payload)
    assert resp.status_code == 400
    assert list(resp.json()) == ["organization_unit"]
    assert counts() == before


def test_resource_takes_its_unit_from_its_entity(fin, org):
    payload = create_payload("resources", org)
    del payload["organization_unit"]
    payload["entity"] = org.ent_b.pk
    resp = fin.post(url("resources"), payload)
    assert resp.status_code == 201, resp.content
    assert resp.json()["organization_unit"] == org.b.pk


def test_finance_moves_unit_through_patch(fin, org):
    resp = fin.patch(url("org-units", org.a1.pk), {"parent": org.b.pk})
    assert resp.status_code == 200
    assert resp.json()["parent"] == org.b.pk
    org.res_a1.refresh_from_db()
    member = APIClient()
    member.force_authenticate(org.users["member"])
    # a1 left unit-a's subtree, and its resources with it.
    assert member.get(url("org-units", org.a1.pk)).status_code == 404
    assert member.get(url("resources", org.res_a1.pk)).status_code == 404


# --- filters and pagination ------------------------------------------------------------


def test_unit_filters_parent_and_owner(fin, org):
    assert names(fin.get(url("org-units"), {"parent": org.root.pk})) == {"Alpha", "Bravo"}
    owner = org.users["owner"]
    assert names(fin.get(url("org-units"), {"owner": owner.pk})) == {"Alpha"}
    assert fin.get(url("org-units"), {"parent": "abc"}).status_code == 400


def test_resource_filters(fin, org):
    ResourceFactory(
        name="res-az",
        provider="azure",
        provider_resource_id="/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Web/sites/a",
        account="0000",
        region="westeurope",
        organization_unit=org.a1,
        tags={"team": "alpha", "env": "dev"},
    )
    assert names(fin.get(url("resources"), {"provider": "gcp"})) == {"res-b"}
    assert names(fin.get(url("resources"), {"account": "bravo-prod"})) == {"res-b"}
    assert names(fin.get(url("resources"), {"region": "westeurope"})) == {"res-az"}
    assert names(fin.get(url("resources"), {"owner": org.users["owner"].pk})) == set()
    assert names(fin.get(url("resources"), {"tag": "team:alpha"})) == {"res-a1", "res-az"}
    both = fin.get(url("resources") + "?tag=team:alpha&tag=env:dev")
    assert names(both) == {"res-az"}
    assert names(fin.get(url("resources"), {"tag": "env:staging"})) == set()
    assert fin.get(url("resources"), {"provider": "nope"}).status_code == 400


def test_tag_filter_with_colon_in_value_and_dash_in_key(fin, org):
    ResourceFactory(
        name="res-cc",
        organization_unit=org.a1,
        tags={"cost-center": "cc:1001"},
    )
    assert names(fin.get(url("resources"), {"tag": "cost-center:cc:1001"})) == {"res-cc"}


def test_tag_filter_keys_are_taken_literally(fin, org):
    ResourceFactory(name="res-odd", organization_unit=org.a1, tags={"a__b": "1", "exact": "y"})
    assert names(fin.get(url("resources"), {"tag": "a__b:1"})) == {"res-odd"}
    assert names(fin.get(url("resources"), {"tag": "exact:y"})) == {"res-odd"}
    assert names(fin.get(url("resources"), {"tag": "a:1"})) == set()


def test_entity_tag_filter(fin, org):
    assert names(fin.get(url("entities"), {"tag": "team:bravo"})) == {"ent-b"}


@pytest.mark.parametrize("endpoint", ["entities", "resources"])
@pytest.mark.parametrize("bad", ["nocolon", ":value"])
def test_bad_tag_filter_is_a_400_naming_tag(fin, org, endpoint, bad):
    resp = fin.get(url(endpoint), {"tag": bad})
    assert resp.status_code == 400
    assert list(resp.json()) == ["tag"]


def test_filters_do_not_widen_a_members_scope(org, client_as):
    client = client_as(org.users["member"])
    assert names(client.get(url("resources"), {"tag": "team:bravo"})) == set()
    assert names(client.get(url("org-units"), {"parent": org.root.pk})) == {"Alpha"}


def test_limit_offset_pagination_shape(fin, org):
    first = fin.get(url("org-units"), {"limit": 3})
    body = first.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 4
    assert len(body["results"]) == 3
    assert body["previous"] is None
    assert "limit=3" in body["next"] and "offset=3" in body["next"]

    second = fin.get(url("org-units"), {"limit": 3, "offset": 3}).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    assert second["previous"] is not None
    seen = [r["code"] for r in body["results"] + second["results"]]
    assert sorted(seen) == sorted(OrganizationUnit.objects.values_list("code", flat=True))


# --- bounded queries -------------------------------------------------------------------


@pytest.fixture
def big_org(org):
    """200 more units under unit-a (rebuilt in one go) and 200 resources and entities in a1."""
    parents = [org.a, org.a1]
    with OrganizationUnit.objects.disable_mptt_updates():
        for n in range(200):
            OrganizationUnit(
                name=f"Team {n:03d}",
                code=f"team-{n:03d}",
                parent=parents[n % 2],
                owner=org.users["owner"] if n % 3 else None,
                tree_id=org.root.tree_id,
                lft=0,
                rght=0,
                level=0,
            ).save()
    OrganizationUnit.objects.rebuild()
    owner = UserFactory(username="bulk-owner")
    entities = Entity.objects.bulk_create(
        Entity(name=f"app-{n:03d}", organization_unit=org.a1, owner=owner) for n in range(200)
    )
    Resource.objects.bulk_create(
        Resource(
            provider="aws",
            provider_resource_id=f"arn:aws:ec2:eu-west-1:123456789012:instance/i-{n:08x}",
            name=f"vm-{n:03d}",
            organization_unit=org.a1,
            entity=entities[n],
            owner=owner,
            tags={"team": "alpha", "n": str(n)},
        )
        for n in range(200)
    )
    return org


@pytest.mark.parametrize("role", ["finance", "member"])
@pytest.mark.parametrize("endpoint", ["org-units", "resources", "entities"])
def test_listing_hundreds_runs_bounded_queries(
    big_org, client_as, django_assert_max_num_queries, role, endpoint
):
    client = client_as(big_org.users[role])
    with django_assert_max_num_queries(6):
        resp = client.get(url(endpoint), {"limit": 500})
    assert resp.status_code == 200
    assert len(resp.json()["results"]) >= 200


def test_anonymous_error_shape():
    resp = APIClient().get(url("org-units"))
    assert resp.status_code == 401
    assert resp.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_auditor_in_finance_too_writes_nothing(org, client_as, endpoint):
    from django.contrib.auth.models import Group

    both = org.users["finance"]
    both.groups.add(Group.objects.get(name="auditor"))
    client = client_as(type(both).objects.get(pk=both.pk))
    model = ENDPOINTS[endpoint]["model"]
    obj = getattr(org, ENDPOINTS[endpoint]["theirs"])
    before = list(model.objects.order_by("pk").values())

    responses = [
        client.post(url(endpoint), create_payload(endpoint, org)),
        client.patch(url(endpoint, obj.pk), {"name": "Renamed"}),
        client.delete(url(endpoint, obj.pk)),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert {r.json()["code"] for r in responses} == {"read_only"}
    assert list(model.objects.order_by("pk").values()) == before
    assert client.get(url(endpoint, obj.pk)).status_code == 200  # still reads everything
