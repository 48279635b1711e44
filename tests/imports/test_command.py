"""``costtrack import focus FILE``: summary on stdout, progress on stderr, clear failures."""

import io

import pytest
from django.core.management import CommandError, call_command

from costs.models import Cost
from tests.imports.conftest import DATA

pytestmark = pytest.mark.django_db


def test_import_command_prints_a_summary_and_progress(importer, landing, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import", "focus", str(DATA / "kubernetes.csv"), "--unit", "cloud", "--progress",
        stdout=out, stderr=err,
    )  # fmt: skip
    text = out.getvalue()
    assert "succeeded: kubernetes.csv, billing account cluster-prod-eu" in text
    assert "rows 394" in text
    assert "100%" in err.getvalue()
    assert "writing costs and audit events" in err.getvalue()
    assert Cost.objects.count() > 0

    out = io.StringIO()
    call_command("import", "focus", str(DATA / "kubernetes.csv"), "--unit", "cloud", stdout=out)
    assert "already imported" in out.getvalue()


def test_import_command_fails_clearly_on_a_bad_file(importer, landing, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(CommandError, match="not a CSV file"):
        call_command("import", "focus", str(bad), "--unit", "cloud")
    with pytest.raises(CommandError, match="No file at"):
        call_command("import", "focus", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="no unit with code"):
        call_command("import", "focus", str(DATA / "gcp.csv"), "--unit", "nope")
    assert Cost.objects.count() == 0


def test_several_files_and_globs_import_one_after_the_other(importer, landing, tmp_path, eur_rates):
    from tests.imports.test_multiscope import csv_of, multi_cloud_rows

    (tmp_path / "multi.csv").write_bytes(csv_of(multi_cloud_rows()))
    (tmp_path / "gcp-only.csv").write_bytes((DATA / "gcp.csv").read_bytes())
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import", "focus", str(tmp_path / "*.csv"), str(DATA / "kubernetes.csv"),
        "--unit", "cloud", stdout=out, stderr=err,
    )  # fmt: skip
    text = out.getvalue()
    assert "3 of 3 files imported, 7 scopes." in text
    assert "multi.csv, 5 scopes (FOCUS 1.0, FinOps FOCUS CSV)" in text
    assert "scope AWS 444455556666 2024-03-01…2024-03-31: imported" in text
    # the GCP file after the multi-cloud one: its scope is the same, so it is kept
    assert "scope Google Cloud 01ABCD-23EF45-67GH89 2024-03-01…2024-03-31: unchanged" in text
    # not a terminal: plain lines, no carriage returns
    progress = err.getvalue()
    assert "\r" not in progress
    assert "[1/3] gcp-only.csv rows staged: 145" in progress
    assert "[2/3] multi.csv scopes done: 5/5" in progress


def test_a_failing_file_among_several_is_reported_and_the_others_import(
    importer, landing, tmp_path
):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"BilledCost\n1\n")
    with pytest.raises(CommandError, match="Mandatory column 'EffectiveCost' is missing"):
        call_command(
            "import", "focus", str(bad), str(DATA / "kubernetes.csv"), "--unit", "cloud",
            "--quiet", stdout=io.StringIO(),
        )  # fmt: skip
    assert Cost.objects.filter(import_link__batch__file_name="kubernetes.csv").exists()


def test_no_file_matching_a_glob_is_an_error(importer, tmp_path):
    with pytest.raises(CommandError, match="No file matches"):
        call_command("import", "focus", str(tmp_path / "*.parquet"))


def test_a_terminal_gets_a_bar_redrawn_in_place(importer, landing):
    err = io.StringIO()
    err.isatty = lambda: True
    call_command(
        "import", "focus", str(DATA / "kubernetes.csv"), "--unit", "cloud",
        stdout=io.StringIO(), stderr=err,
    )  # fmt: skip
    assert "\rreading [" in err.getvalue()
    assert "rows staged: 394" in err.getvalue()
