"""The import benchmark runs end to end on a small file and leaves nothing behind."""

import json

import pytest
from django.core.management import call_command

from costs.models import Cost, ImportBatch
from orgunits.models import Resource

pytestmark = pytest.mark.django_db(transaction=True)


def test_bench_import_times_both_grains_against_copy(capsys):
    call_command("bench", "import", "--rows", "3000", "--repeat", "1")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["scenario"], x["grain"]) for x in lines] == [
        ("import", "day"),
        ("import_month", "month"),
    ]
    day, month = lines
    assert day["rows"] == month["rows"] >= 3000
    assert all(x["ours_s"] > 0 and x["floor_s"] > 0 for x in lines)
    assert day["ratio"] == pytest.approx(day["ours_s"] / day["floor_s"], rel=0.01)
    # hourly compute lines make one cost per instance and day, or per instance and month
    assert day["costs_created"] > month["costs_created"] > 0
    assert day["resources_created"] == month["resources_created"] > 0
    # the throwaway schema is gone; nothing was written to the real tables
    assert Cost.objects.count() == 0
    assert ImportBatch.objects.count() == 0
    assert Resource.objects.count() == 0
