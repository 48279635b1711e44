"""``costtrack demo``: a realistic organisation, demo logins in every role, idempotent."""

import io
import re

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.db.models import Count

from costtrack.management.commands import demo as demo_command
from orgunits.models import Delegation, Entity, Membership, OrganizationUnit, Resource

pytestmark = pytest.mark.django_db

PROVIDER_ID_SHAPES = {
    "aws": r"^arn:aws:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:.+",
    "gcp": r"^//[a-z]+\.googleapis\.com/projects/[^/]+/.+",
    "azure": r"^/subscriptions/[0-9a-f-]{36}/resourceGroups/[^/]+/providers/Microsoft\.\w+/.+",
    "k8s": r"^[a-z0-9-]+/[a-z0-9-]+/(deployment|statefulset|cronjob)/[a-z0-9-]+$",
}


def run_demo() -> str:
    out = io.StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def snapshot():
    User = get_user_model()
    return {
        "units": list(
            OrganizationUnit.objects.order_by("code").values_list(
                "code", "name", "parent__code", "owner__username", "level", "lft", "rght"
            )
        ),
        "users": list(User.objects.order_by("username").values_list("username", "password")),
        "memberships": sorted(
            Membership.objects.values_list("user__username", "unit__code", "role")
        ),
        "entities": sorted(Entity.objects.values_list("name", "organization_unit__code", "tags")),
        "resources": sorted(
            Resource.objects.values_list("provider", "provider_resource_id", "updated_at")
        ),
        "delegations": list(Delegation.objects.values_list("pk", "start_date", "end_date")),
        "groups": sorted(User.groups.through.objects.values_list("user__username", "group__name")),
    }


def test_demo_builds_an_organisation_with_logins_and_a_rerun_changes_nothing(monkeypatch):
    # Only the organisation step: the other apps' steps have their own tests.
    monkeypatch.setattr(demo_command, "DEMO_STEPS", ["orgunits.demo.seed_organisation"])
    output = run_demo()

    levels = dict(
        OrganizationUnit.objects.values_list("level").annotate(n=Count("id")).order_by("level")
    )
    assert levels == {0: 1, 1: 4, 2: 12, 3: 26}
    assert OrganizationUnit.objects.filter(owner__isnull=False).count() >= 40
    assert Membership.objects.filter(role="approver").count() == 12
    assert Membership.objects.filter(role="member").count() == 26
    assert Entity.objects.count() == 30
    assert Resource.objects.count() == 200
    per_provider = dict(Resource.objects.values_list("provider").annotate(n=Count("id")))
    assert set(per_provider) == {"aws", "gcp", "azure", "k8s"}
    for resource in Resource.objects.all():
        shape = PROVIDER_ID_SHAPES[resource.provider]
        assert re.match(shape, resource.provider_resource_id), resource.provider_resource_id
        assert resource.account and resource.service
        assert {"team", "env", "cost-center", "app"} <= set(resource.tags)
    assert "Organisation: 43 units, 30 entities, 200 resources" in output

    # every printed login works, in every role
    rows = re.findall(r"^  (\w+)\s+(\S+)\s+(demo-\S+)", output, flags=re.MULTILINE)
    assert {"superuser", "finance", "auditor", "owner", "approver", "member"} <= {
        role for role, _, _ in rows
    }
    assert get_user_model().objects.count() == len(rows)
    for role, username, password in rows:
        assert password == f"demo-{username}"
        user = authenticate(username=username, password=password)
        assert user is not None, username
        if role == "superuser":
            assert username == "admin" and user.is_superuser
        if role in {"finance", "auditor"}:
            assert user.groups.filter(name=role).exists()

    first = snapshot()
    assert run_demo() == output
    assert snapshot() == first


def first_step(*, stdout, context):
    stdout.write("first step ran")
    return {
        "units": {"acme": "unit"},
        "credentials": [{"username": "a", "password": "demo-a", "role": "owner", "unit": "acme"}],
    }


def second_step(*, stdout, context):
    assert context["units"] == {"acme": "unit"}
    assert [row["username"] for row in context["credentials"]] == ["a"]
    return {
        "budgets": ["b1"],
        "credentials": [{"username": "b", "password": "demo-b", "role": "member", "unit": ""}],
    }


def test_demo_steps_run_in_order_and_receive_earlier_results(monkeypatch):
    monkeypatch.setattr(
        demo_command,
        "DEMO_STEPS",
        ["tests.orgunits.test_demo.first_step", "tests.orgunits.test_demo.second_step"],
    )

    output = run_demo()

    assert output.index("first step ran") < output.index("Demo data is in place.")
    assert re.search(r"^  owner\s+a\s+demo-a\s+\d+\s+acme$", output, flags=re.MULTILINE)
    assert re.search(r"^  member\s+b\s+demo-b", output, flags=re.MULTILINE)


def test_demo_steps_start_with_the_organisation():
    assert demo_command.DEMO_STEPS[0] == "orgunits.demo.seed_organisation"
