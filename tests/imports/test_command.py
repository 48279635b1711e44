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
