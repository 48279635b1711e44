"""The enforcement benchmark runs end to end on a few submissions and leaves nothing behind."""

import json

import pytest
from django.core.management import call_command

from budgets.models import Budget
from costs.models import Cost

pytestmark = pytest.mark.django_db(transaction=True)


def test_bench_enforcement_compares_three_budgets_with_none(capsys):
    call_command("bench", "enforcement", "--rows", "20", "--repeat", "1")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    none, three, line = lines
    assert (none["scenario"], none["matching_budgets"]) == ("enforcement_no_budgets", 0)
    assert three["matching_budgets"] == 3
    assert none["submissions_per_s"] > 0 and three["submissions_per_s"] > 0
    assert line["scenario"] == "enforcement"
    assert line["ours_s"] > 0 and line["floor_s"] > 0
    assert line["ratio"] == pytest.approx(line["ours_s"] / line["floor_s"], rel=0.01)
    assert Cost.objects.count() == 0
    assert Budget.objects.count() == 0
