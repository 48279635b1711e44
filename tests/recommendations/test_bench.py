"""The recommendations benchmark runs end to end on a small data set, finds every kind and
leaves nothing behind."""

import json

import pytest
from django.core.management import call_command

from costs.models import Cost
from recommendations.models import Recommendation

pytestmark = pytest.mark.django_db(transaction=True)


def test_bench_recommendations_finds_every_kind_and_cleans_up(capsys):
    call_command("bench", "recommendations", "--costs", "3000", "--nodes", "500", "--repeat", "1")
    first, again = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (first["scenario"], again["scenario"]) == (
        "recommendations.first",
        "recommendations.recompute",
    )
    assert first["costs"] == 3000 and first["nodes"] == 500
    assert all(n > 0 for n in first["found"].values()), first["found"]
    assert first["written"] == sum(first["found"].values())
    assert again["found"] == first["found"]
    assert again["floor_s"] > 0 and again["ratio"] == pytest.approx(
        again["ours_s"] / again["floor_s"], rel=0.01
    )
    assert Cost.objects.count() == 0 and Recommendation.objects.count() == 0
