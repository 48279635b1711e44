"""The import benchmark runs end to end on a small file and leaves nothing behind."""

import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from costs.models import Cost, ImportBatch
from costtrack.core.models import Job
from orgunits.models import Resource

pytestmark = pytest.mark.django_db(transaction=True)


@override_settings(COSTTRACK_RECOMMENDATIONS_AUTO=True)  # as deployed: imports queue jobs
def test_bench_import_times_both_grains_and_formats_against_copy(capsys, tmp_path):
    call_command(
        "bench", "import", "--rows", "3000", "--repeat", "1", "--keep-files", str(tmp_path)
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["scenario"], x["format"], x["grain"]) for x in lines] == [
        ("import", "csv", "day"),
        ("import_month", "csv", "month"),
        ("import_parquet", "parquet", "day"),
        ("import_parquet_month", "parquet", "month"),
    ]
    # 4 billing accounts of 3 providers by default: 4 scopes, the same rows in both formats
    assert {x["scopes"] for x in lines} == {4}
    assert lines[0]["costs_created"] == lines[2]["costs_created"]
    assert lines[1]["costs_created"] == lines[3]["costs_created"]
    assert (tmp_path / "focus.csv").exists() and (tmp_path / "focus.parquet").exists()
    day, month = lines[:2]
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
    assert Job.objects.count() == 0


def test_bench_import_of_one_account_and_csv_only(capsys):
    call_command(
        "bench", "import", "--rows", "2000", "--repeat", "1", "--accounts", "1",
        "--providers", "1", "--formats", "csv",
    )  # fmt: skip
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["scenario"], x["scopes"]) for x in lines] == [("import", 1), ("import_month", 1)]
