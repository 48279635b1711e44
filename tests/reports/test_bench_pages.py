"""The page benchmark runs end to end on a small organisation and leaves nothing behind."""

import json

import pytest
from django.core.management import call_command

from costs.models import Cost
from orgunits.models import OrganizationUnit

pytestmark = pytest.mark.django_db(transaction=True)


def test_bench_pages_times_every_page_and_report_beside_its_floor(capsys):
    call_command("bench", "pages", "--costs", "30000", "--repeat", "1")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = [x["scenario"] for x in lines]
    assert len(names) == 16 and len(set(names)) == 16
    assert {"page /", "page /approvals/", "api costs of one team's month as CSV"} <= set(names)
    assert all(x["ours_s"] > 0 and x["floor_s"] > 0 and x["costs"] == 30000 for x in lines)
    assert all(x["bytes"] > 0 for x in lines)
    (export,) = [x for x in lines if "format=csv" in x["url"]]
    # the export answers exactly the rows its floor reads: the team's current month
    assert export["rows"] == export["floor_rows"] > 0
    # the throwaway schema is gone; nothing was written to the real tables
    assert Cost.objects.count() == 0
    assert OrganizationUnit.objects.count() == 0
