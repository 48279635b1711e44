"""The rollup benchmark runs end to end on a small data set and leaves nothing behind."""

import json

import pytest
from django.core.management import call_command

from costs.models import Cost
from orgunits.models import OrganizationUnit

pytestmark = pytest.mark.django_db(transaction=True)


def test_bench_rollup_times_trend_and_subtree_totals_against_sql(capsys):
    call_command("bench", "rollup", "--rows", "5000", "--repeat", "1")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["scenario"] for x in lines] == ["rollup_trend", "rollup_units"]
    for line in lines:
        assert line["ours_s"] > 0 and line["floor_s"] > 0
        assert line["ratio"] == pytest.approx(line["ours_s"] / line["floor_s"], rel=0.01)
    assert Cost.objects.count() == 0
    assert OrganizationUnit.objects.count() == 0
