"""``costtrack demo`` as ``make run`` runs it: every step, and a second run changes nothing."""

import io

import pytest
from django.apps import apps
from django.core.management import call_command

pytestmark = pytest.mark.django_db

APPS = ("auth", "orgunits", "costs", "budgets", "allocation", "notifications", "recommendations")


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for label in APPS
        for model in apps.get_app_config(label).get_models()
    }


def test_the_whole_demo_twice_changes_nothing_the_second_time():
    out = io.StringIO()
    call_command("demo", stdout=out)
    first = row_counts()
    for label in (
        "orgunits.OrganizationUnit",
        "orgunits.Resource",
        "costs.Cost",
        "costs.CostEvent",
        "costs.ExchangeRate",
        "budgets.Budget",
        "allocation.CostNode",
        "allocation.AllocationRun",
    ):
        assert first[label] > 0, label
    assert "password" in out.getvalue().lower()
    _every_decider_has_costs_waiting(out.getvalue())
    _allocation_page_draws_the_demo_run()
    from recommendations.models import Kind, Recommendation

    found = set(Recommendation.objects.values_list("kind", flat=True))
    assert found == set(Kind.values), "the demo shows every kind of recommendation"

    call_command("demo", stdout=io.StringIO())
    assert row_counts() == first


def _every_decider_has_costs_waiting(printed: str) -> None:
    """Each demo owner and approver signs in to a non-empty inbox, and the printed logins
    say how many costs wait for each."""
    from django.contrib.auth import get_user_model

    from costs.selectors import costs_awaiting

    users = {u.username: u for u in get_user_model().objects.all()}
    rows = [
        line.split()
        for line in printed.splitlines()
        if line.startswith("  ") and line.split()[0] in ("owner", "approver", "finance")
    ]
    deciders = [r for r in rows if r[0] in ("owner", "approver")]
    assert len(deciders) > 10
    for role, username, _password, waiting, *_unit in rows:
        count = costs_awaiting(users[username]).count()
        assert int(waiting) == count, username
        if role in ("owner", "approver"):
            assert count > 0, f"{role} {username} has an empty inbox"


def _allocation_page_draws_the_demo_run() -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="finance"))
    html = client.get("/allocation/").content.decode()
    svg = html[html.index('<svg class="sankey"') : html.index("</svg>", html.index("sankey"))]
    assert svg.count('class="flow') >= 5
    assert "database-cluster" in svg
