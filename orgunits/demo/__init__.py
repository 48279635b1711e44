"""Demo organisation for ``costtrack demo``: Northwind Labs, its people and its cloud estate.

``seed_organisation`` is the first step of the demo command (see
``costtrack/management/commands/demo.py`` for the step protocol). It writes, through
``orgunits.services`` only:

- 43 units over 4 levels: company → 4 divisions → 12 departments → 26 teams, with owners;
- one approver member per department and one member per team;
- demo users in every role: ``admin`` (superuser), finance staff, an auditor, unit owners,
  approvers and members. Every password is ``demo-<username>``;
- 30 entities (applications, services, systems, contracts) owned by teams;
- 200 resources across AWS, GCP, Azure and Kubernetes with realistic provider ids (ARNs, GCP
  resource names, Azure resource ids, ``cluster/namespace/kind/name``), accounts, regions,
  services and tags (``team``, ``env``, ``cost-center``, ``app``);
- one delegation (an owner out of office).

Everything is generated from a fixed seed and looked up by its natural key (unit code,
username, entity name per unit, provider + provider id) before it is created, so a second
run finds everything in place and changes nothing.
"""

import random
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, get_hasher, make_password
from django.contrib.auth.models import Group
from django.utils import timezone

from costtrack.core.roles import AUDITOR, FINANCE

from .. import services
from ..models import Delegation, Entity, Membership, OrganizationUnit, Resource
from .cloud import plan_resources, team_tags
from .data import (
    COMPANY,
    DEPARTMENTS,
    DIVISIONS,
    ENTITIES,
    FIRST_NAMES,
    LAST_NAMES,
    SEED,
    TEAMS,
    UNOWNED_TEAMS,
)

DEMO_HASH_ITERATIONS = 10_000


def demo_password(username: str) -> str:
    """The documented password of every demo user."""
    return f"demo-{username}"


# --- the organisation ----------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: str
    unit_code: str = ""


def _people(rng: random.Random) -> list[tuple[str, str]]:
    names = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(names)
    first_names: Counter[str] = Counter()
    people = []
    for first, last in names:
        if first_names[first] < 2:  # few namesakes keep the demo logins easy to tell apart
            first_names[first] += 1
            people.append((first, last))
    return people


def _username(first: str, last: str) -> str:
    return f"{first}.{last}".lower()


def _plan_users(rng: random.Random) -> tuple[list[DemoUser], dict, dict, dict]:
    """Who is who: the role users, an owner per unit, approvers and members."""
    people = iter(_people(rng))
    users = [
        DemoUser("admin", "Admin", "User", "superuser"),
        DemoUser("finance", "Fiona", "Marsh", "finance"),
        DemoUser("finance2", "Frank", "Osei", "finance"),
        DemoUser("auditor", "Audrey", "Klein", "auditor"),
    ]
    owners, approvers, members = {}, {}, {}

    def person(role: str, unit_code: str) -> str:
        first, last = next(people)
        users.append(DemoUser(_username(first, last), first, last, role, unit_code))
        return users[-1].username

    owners[COMPANY[0]] = person("owner", COMPANY[0])
    for code, _ in DIVISIONS:
        owners[code] = person("owner", code)
    for code, *_ in DEPARTMENTS:
        owners[code] = person("owner", code)
        approvers[code] = person("approver", code)
    for code, *_ in TEAMS:
        if code not in UNOWNED_TEAMS:
            owners[code] = person("owner", code)
        members[code] = person("member", code)
    return users, owners, approvers, members


def _hash_demo_password(password: str) -> str:
    """Hash a demo password cheaply.

    The demo passwords are published (``demo-<username>``), so the full PBKDF2 work factor
    protects nothing here and would make the first ``make run`` take a minute. Django
    re-hashes with the full work factor at the user's first login (``must_update``).
    """
    hasher = get_hasher("default")
    if isinstance(hasher, PBKDF2PasswordHasher):
        return hasher.encode(password, hasher.salt(), iterations=DEMO_HASH_ITERATIONS)
    return make_password(password)


def _ensure_users(planned: list[DemoUser]) -> dict:
    User = get_user_model()
    existing = {
        u.username: u for u in User.objects.filter(username__in=[p.username for p in planned])
    }
    missing = [p for p in planned if p.username not in existing]
    # Passwords are set only on creation, so a second run changes nothing.
    hashes = [_hash_demo_password(demo_password(p.username)) for p in missing]
    for plan, hashed in zip(missing, hashes, strict=True):
        user = User(
            username=plan.username,
            first_name=plan.first_name,
            last_name=plan.last_name,
            email=f"{plan.username}@northwind.example",
            is_staff=plan.role in {"superuser", "finance"},
            is_superuser=plan.role == "superuser",
            password=hashed,
        )
        user.full_clean()
        user.save()
        existing[plan.username] = user
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in (FINANCE, AUDITOR)}
    for plan in planned:
        if plan.role in groups:
            existing[plan.username].groups.add(groups[plan.role])
    return existing


def _ensure_unit(code: str, name: str, parent, owner, description: str) -> OrganizationUnit:
    unit = OrganizationUnit.objects.filter(code=code).first()
    if unit is None:
        unit = services.unit_create(
            name=name, code=code, parent=parent, owner=owner, description=description
        )
    return unit


def _ensure_units(users: dict, owners: dict) -> dict[str, OrganizationUnit]:
    def owner(code):
        return users[owners[code]] if code in owners else None

    units = {}
    code, name = COMPANY
    units[code] = _ensure_unit(code, name, None, owner(code), "The whole company.")
    for code, name in DIVISIONS:
        units[code] = _ensure_unit(code, name, units[COMPANY[0]], owner(code), f"{name} division.")
    for code, name, parent, cost_center in DEPARTMENTS:
        units[code] = _ensure_unit(
            code, name, units[parent], owner(code), f"{name} department, cost centre {cost_center}."
        )
    for code, name, parent in TEAMS:
        units[code] = _ensure_unit(code, name, units[parent], owner(code), f"The {name} team.")
    return units


def _ensure_memberships(users: dict, units: dict, approvers: dict, members: dict) -> None:
    for code, username in approvers.items():
        services.membership_set(
            user=users[username], unit=units[code], role=Membership.Role.APPROVER
        )
    for code, username in members.items():
        services.membership_set(user=users[username], unit=units[code], role=Membership.Role.MEMBER)


def _ensure_entities(users: dict, units: dict, owners: dict) -> dict[str, Entity]:
    entities = {}
    for name, kind, team, app in ENTITIES:
        unit = units[team]
        entity = Entity.objects.filter(organization_unit=unit, name=name).first()
        if entity is None:
            owner_code = team if team in owners else unit.parent.code
            entity = services.entity_create(
                name=name,
                kind=kind,
                organization_unit=unit,
                owner=users[owners[owner_code]],
                description=f"{name}, run by {unit.name}.",
                tags=team_tags(team, None, app),
            )
        entities[app] = entity
    return entities


def _ensure_resources(plans: list[dict], units: dict, entities: dict) -> list[Resource]:
    existing = {
        (r.provider, r.provider_resource_id): r
        for r in Resource.objects.filter(
            provider_resource_id__in=[p["provider_resource_id"] for p in plans]
        )
    }
    resources = []
    for plan in plans:
        resource = existing.get((plan["provider"], plan["provider_resource_id"]))
        if resource is None:
            entity = entities[plan["app"]]
            resource = services.resource_create(
                provider=plan["provider"],
                provider_resource_id=plan["provider_resource_id"],
                account=plan["account"],
                region=plan["region"],
                service=plan["service"],
                name=plan["name"],
                owner=entity.owner,
                entity=entity,
                organization_unit=units[plan["team"]],
                tags=plan["tags"],
            )
        resources.append(resource)
    return resources


def _ensure_delegation(users: dict, owners: dict, approvers: dict) -> None:
    delegator = users[owners["eng-product"]]
    delegate = users[approvers["eng-product"]]
    if not Delegation.objects.filter(delegator=delegator, delegate=delegate).exists():
        today = timezone.localdate()
        services.delegation_create(
            delegator=delegator,
            delegate=delegate,
            start_date=today,
            end_date=today + timedelta(days=14),
            reason="Parental leave",
        )


def seed_organisation(*, stdout=None, context: dict | None = None) -> dict:
    """Create (or find) the demo organisation; return what later demo steps build on.

    Returns ``{"users": {username: User}, "units": {code: OrganizationUnit},
    "entities": {app slug: Entity}, "resources": [Resource], "credentials": [...]}`` where
    ``credentials`` lists ``{"username", "password", "role", "unit"}`` for every demo user.
    """
    # Reproducible demo data, not a secret: a seeded PRNG is exactly what is wanted.
    rng = random.Random(SEED)  # nosec B311
    planned, owners, approvers, members = _plan_users(rng)
    resource_plans = plan_resources(rng)

    users = _ensure_users(planned)
    units = _ensure_units(users, owners)
    _ensure_memberships(users, units, approvers, members)
    entities = _ensure_entities(users, units, owners)
    resources = _ensure_resources(resource_plans, units, entities)
    _ensure_delegation(users, owners, approvers)

    if stdout is not None:
        stdout.write(
            f"Organisation: {len(units)} units, {len(entities)} entities, "
            f"{len(resources)} resources, {len(planned)} users."
        )
    credentials = [
        {
            "username": p.username,
            "password": demo_password(p.username),
            "role": p.role,
            "unit": p.unit_code,
        }
        for p in planned
    ]
    return {
        "users": users,
        "units": units,
        "entities": entities,
        "resources": resources,
        "credentials": credentials,
    }
