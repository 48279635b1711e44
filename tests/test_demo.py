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
    from recommendations.models import Kind, Recommendation

    found = set(Recommendation.objects.values_list("kind", flat=True))
    assert found == set(Kind.values), "the demo shows every kind of recommendation"

    call_command("demo", stdout=io.StringIO())
    assert row_counts() == first
