"""The import task is known to Celery workers and runs a queued upload."""

import pytest

from costs.imports import services
from costs.models import Cost, ImportBatch
from tests.imports.conftest import sample_bytes

pytestmark = pytest.mark.django_db


def test_workers_discover_the_import_task():
    from costtrack.celery import app

    app.loader.import_default_modules()
    assert "costs.run_import" in app.tasks


def test_the_task_runs_a_queued_upload(importer, landing):
    from costs.imports.tasks import run_import

    batch, created = services.import_create(
        file_name="gcp.csv", content=sample_bytes("gcp.csv"), acting_user=importer, unit=landing
    )
    assert created and batch.status == ImportBatch.Status.QUEUED
    assert run_import(batch.pk) == "succeeded"
    assert Cost.objects.filter(import_link__batch=batch).count() > 0
    assert run_import(batch.pk) == "succeeded"  # a retry changes nothing
    assert run_import(10**9) == "missing"


def test_the_import_list_runs_a_bounded_number_of_queries(
    client_for, importer, run, django_assert_max_num_queries
):
    for name in ("gcp.csv", "aws.csv", "kubernetes.csv"):
        run(sample_bytes(name), name=name)
    client = client_for(importer)
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/imports/")
    assert response.json()["count"] == 3


def test_a_batch_whose_retries_run_out_is_failed_not_left_queued(importer, landing, monkeypatch):
    from django.db import OperationalError

    from costs.imports.tasks import run_import

    batch, _ = services.import_create(
        file_name="gcp.csv", content=sample_bytes("gcp.csv"), acting_user=importer, unit=landing
    )
    calls = []

    def lost_connection(**kwargs):
        calls.append(1)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "import_run", lost_connection)
    # The last retry fails for good (earlier ones are queued again) and says so on the batch.
    result = run_import.apply(args=[batch.pk], retries=run_import.max_retries, throw=False)
    assert result.failed()
    assert len(calls) == 1
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED
    assert "OperationalError" in batch.errors[0]["message"]
    assert Cost.objects.count() == 0
