"""A small organisation for the costs tests.

    acme (root)               owner: ceo
    ├── eng                   owner: eng_owner; approver member: eng_approver
    │   └── platform          no owner; member: member (submits costs)
    │       entity "api"      owner: ent_owner
    │       resource "db-1"   owner: res_owner, entity "api"
    └── sales                 owner: sales_owner; member: sales_member

Plus finance ``fin``, auditor ``aud``, and ``delegate`` (no roles; tests give it delegations).
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from costs.models import ExchangeRate
from orgunits import services as org_services
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
class CostOrg:
    root: OrganizationUnit
    eng: OrganizationUnit
    platform: OrganizationUnit
    sales: OrganizationUnit
    entity: Entity
    resource: Resource
    u: dict

    def __getattr__(self, name):
        try:
            return self.__dict__["u"][name]
        except KeyError:
            raise AttributeError(name) from None


@pytest.fixture
def org(db) -> CostOrg:
    names = [
        "ceo",
        "eng_owner",
        "eng_approver",
        "member",
        "ent_owner",
        "res_owner",
        "sales_owner",
        "sales_member",
        "delegate",
    ]
    u = {name: UserFactory(username=name) for name in names}
    u["fin"] = finance_user(username="fin")
    u["aud"] = auditor_user(username="aud")
    root = OrganizationUnitFactory(name="Acme", code="acme", owner=u["ceo"])
    eng = OrganizationUnitFactory(name="Engineering", code="eng", parent=root, owner=u["eng_owner"])
    platform = OrganizationUnitFactory(name="Platform", code="platform", parent=eng)
    sales = OrganizationUnitFactory(name="Sales", code="sales", parent=root, owner=u["sales_owner"])
    org_services.membership_set(user=u["eng_approver"], unit=eng, role=Membership.Role.APPROVER)
    org_services.membership_set(user=u["member"], unit=platform, role=Membership.Role.MEMBER)
    org_services.membership_set(user=u["sales_member"], unit=sales, role=Membership.Role.MEMBER)
    entity = EntityFactory(name="api", organization_unit=platform, owner=u["ent_owner"])
    resource = ResourceFactory(
        name="db-1",
        provider_resource_id="arn:aws:rds:eu-west-1:1:db:db-1",
        organization_unit=platform,
        entity=entity,
        owner=u["res_owner"],
        tags={"env": "prod"},
    )
    return CostOrg(root, eng, platform, sales, entity, resource, u)


@pytest.fixture
def eur_rates(db):
    """EUR at 1.10 from 2020 and 1.20 from 2025-03-01; GBP at 1.25 from 2020."""
    ExchangeRate.objects.create(currency="EUR", date=date(2020, 1, 1), rate=Decimal("1.10"))
    ExchangeRate.objects.create(currency="EUR", date=date(2025, 3, 1), rate=Decimal("1.20"))
    ExchangeRate.objects.create(currency="GBP", date=date(2020, 1, 1), rate=Decimal("1.25"))
