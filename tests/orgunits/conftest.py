"""A small organisation with one user per role, shared by the orgunits tests.

acme (root)
├── unit-a      owner: owner_a; member_a is a member, approver_a an approver
│   └── unit-a1 entity ent-a1, resource res-a1
└── unit-b      entity ent-b, resource res-b
"""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AnonymousUser

from orgunits import services
from orgunits.models import Entity, Membership, OrganizationUnit, Resource
from tests.orgunits.factories import (
    EntityFactory,
    OrganizationUnitFactory,
    ResourceFactory,
    UserFactory,
    auditor_user,
    finance_user,
)


@dataclass
class Org:
    root: OrganizationUnit
    a: OrganizationUnit
    a1: OrganizationUnit
    b: OrganizationUnit
    ent_a1: Entity
    ent_b: Entity
    res_a1: Resource
    res_b: Resource
    users: dict


@pytest.fixture
def org(db) -> Org:
    owner_a = UserFactory(username="owner_a")
    root = OrganizationUnitFactory(name="Acme", code="acme")
    a = OrganizationUnitFactory(name="Alpha", code="unit-a", parent=root, owner=owner_a)
    a1 = OrganizationUnitFactory(name="Alpha One", code="unit-a1", parent=a)
    b = OrganizationUnitFactory(name="Bravo", code="unit-b", parent=root)
    member_a = UserFactory(username="member_a")
    approver_a = UserFactory(username="approver_a")
    services.membership_set(user=member_a, unit=a, role=Membership.Role.MEMBER)
    services.membership_set(user=approver_a, unit=a, role=Membership.Role.APPROVER)
    ent_a1 = EntityFactory(name="ent-a1", organization_unit=a1, tags={"team": "alpha"})
    ent_b = EntityFactory(name="ent-b", organization_unit=b, tags={"team": "bravo"})
    res_a1 = ResourceFactory(
        name="res-a1",
        provider_resource_id="arn:aws:s3:::alpha-bucket",
        organization_unit=a1,
        entity=ent_a1,
        tags={"team": "alpha", "env": "prod"},
    )
    res_b = ResourceFactory(
        name="res-b",
        provider="gcp",
        provider_resource_id="//compute.googleapis.com/projects/bravo/zones/x/instances/vm-1",
        account="bravo-prod",
        region="europe-west1",
        organization_unit=b,
        entity=ent_b,
        tags={"team": "bravo", "env": "dev"},
    )
    users = {
        "anonymous": AnonymousUser(),
        "finance": finance_user(username="fin"),
        "auditor": auditor_user(username="aud"),
        "member": member_a,
        "approver": approver_a,
        "owner": owner_a,
    }
    return Org(root, a, a1, b, ent_a1, ent_b, res_a1, res_b, users)


@pytest.fixture
def client_as(client_for):
    """``client_as(user)``: like ``client_for`` but an anonymous user gets a bare client."""
    from rest_framework.test import APIClient

    def make(user):
        if not user.is_authenticated:
            return APIClient()
        return client_for(user)

    return make
