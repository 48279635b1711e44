"""Which database a read goes to: the replica only for report and page reads outside any
transaction; writes, transactions, sessions and users always on the primary."""

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory

from costs.models import Cost
from costtrack.core import db
from costtrack.core.db import ReplicaReadsMiddleware, ReplicaRouter, reads_from_replica


@pytest.fixture
def replica(monkeypatch):
    monkeypatch.setattr(db, "replica_configured", lambda: True)


@pytest.mark.django_db(transaction=True)
def test_reads_go_to_the_replica_only_inside_the_block_and_outside_transactions(replica):
    router = ReplicaRouter()
    assert router.db_for_read(Cost) == "default"
    with reads_from_replica():
        assert router.db_for_read(Cost) == "replica"
        with transaction.atomic():
            assert router.db_for_read(Cost) == "default"
        # who is signed in is read where it was written
        assert router.db_for_read(get_user_model()) == "default"
        assert router.db_for_write(Cost) == "default"
    assert router.db_for_read(Cost) == "default"


@pytest.mark.django_db(transaction=True)
def test_without_a_replica_every_read_stays_on_the_primary(monkeypatch):
    monkeypatch.setattr(db, "replica_configured", lambda: False)
    with reads_from_replica():
        assert ReplicaRouter().db_for_read(Cost) == "default"


def test_the_replica_is_never_migrated():
    router = ReplicaRouter()
    assert router.allow_migrate("replica", "costs") is False
    assert router.allow_migrate("default", "costs") is None


READ_FROM_REPLICA = [
    "/api/v1/reports/summary/",
    "/api/v1/reports/costs/",
    "/api/v1/reports/budget-variance/",
    "/api/v1/org-units/7/rollup/",
    "/",
    "/units/7/",
    "/resources/3/",
    "/budgets/",
]
READ_FROM_PRIMARY = ["/api/v1/costs/", "/approvals/", "/costs/7/", "/api/v1/org-units/7/"]


def _served_inside_block(method: str, path: str) -> bool:
    seen = {}

    def view(request):
        seen["active"] = db.replica_reads_active()
        return HttpResponse()

    request = getattr(RequestFactory(), method)(path)
    ReplicaReadsMiddleware(view)(request)
    return seen["active"]


@pytest.mark.parametrize("path", READ_FROM_REPLICA)
def test_report_and_page_reads_are_served_from_the_replica(path):
    assert _served_inside_block("get", path)
    assert _served_inside_block("head", path)
    assert not _served_inside_block("post", path)


@pytest.mark.parametrize("path", READ_FROM_PRIMARY)
def test_lists_and_decisions_are_served_from_the_primary(path):
    assert not _served_inside_block("get", path)


@pytest.mark.django_db
def test_a_report_request_runs_its_selector_in_the_replica_block(client_for, monkeypatch):
    from costs import reports
    from tests.orgunits.factories import finance_user

    seen = []
    summary = reports.cost_summary

    def spy(**kwargs):
        seen.append(db.replica_reads_active())
        return summary(**kwargs)

    monkeypatch.setattr(reports, "cost_summary", spy)
    client = client_for(finance_user())
    assert client.get("/api/v1/reports/summary/", {"period": "annual"}).status_code == 200
    assert seen == [True]
    assert not db.replica_reads_active()


def _database_settings(**env) -> dict:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import json; from django.conf import settings; print(json.dumps({"
        "'replica': settings.DATABASES.get('replica'), 'routers': settings.DATABASE_ROUTERS}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        env={**clean, "DJANGO_SETTINGS_MODULE": "costtrack.settings.base", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_database_replica_url_adds_a_replica_mirrored_in_tests_and_the_router():
    configured = _database_settings(
        DATABASE_URL="postgres://app@primary.example.com:5432/costtrack",
        DATABASE_REPLICA_URL="postgres://app@replica.example.com:5433/costtrack",
    )
    assert configured["replica"]["HOST"] == "replica.example.com"
    assert configured["replica"]["PORT"] == 5433
    assert configured["replica"]["TEST"]["MIRROR"] == "default"
    assert configured["routers"] == ["costtrack.core.db.ReplicaRouter"]
    plain = _database_settings(DATABASE_URL="postgres://app@primary.example.com:5432/costtrack")
    assert plain == {"replica": None, "routers": []}
