"""The imports reaper and the job reaper: an uploaded import left unfinished by a dead
worker, or whose job was lost, runs again and finishes by itself."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from costs.models import ImportBatch
from costs.reapers import imports_reap
from costtrack.core.jobs import jobs_dispatch, jobs_reap
from costtrack.core.models import Job, JobState
from tests.imports.conftest import sample_bytes

pytestmark = pytest.mark.django_db


def test_an_upload_left_running_by_a_dead_worker_runs_again(
    client_for, importer, landing, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        response = client_for(importer).post(
            "/api/v1/imports/",
            {"file": SimpleUploadedFile("gcp.csv", sample_bytes("gcp.csv")), "unit": "cloud"},
            format="multipart",
        )
    assert response.status_code == 202, response.json()
    batch = ImportBatch.objects.get(pk=response.json()["id"])
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=ImportBatch.Status.RUNNING, created_at=timezone.now() - timedelta(minutes=5)
    )
    (job,) = Job.objects.all()
    assert job.task == "costs.run_import"
    Job.objects.update(
        state=JobState.RUNNING,
        worker="gone:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    counts = jobs_reap()  # the job reaper first, then the apps' (imports among them)
    assert (counts["jobs"], counts["imports"]) == (1, 0)
    assert Job.objects.get().state == JobState.PENDING  # for the next dispatch round
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_dispatch() == 1  # in-process here: tasks run eagerly
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.SUCCEEDED
    job.refresh_from_db()
    assert (job.state, job.dispatches) == (JobState.DONE, 1)
    assert Job.objects.filter(task="costs.run_import").count() == 1


def test_the_imports_reaper_alone_hands_the_same_job_over_again(
    client_for, importer, landing, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        response = client_for(importer).post(
            "/api/v1/imports/",
            {"file": SimpleUploadedFile("gcp.csv", sample_bytes("gcp.csv")), "unit": "cloud"},
            format="multipart",
        )
    ImportBatch.objects.filter(pk=response.json()["id"]).update(
        status=ImportBatch.Status.RUNNING, created_at=timezone.now() - timedelta(minutes=5)
    )
    Job.objects.update(
        state=JobState.RUNNING, worker="gone:1", lease_expires_at=timezone.now() - timedelta(1)
    )
    with django_capture_on_commit_callbacks(execute=False) as hints:
        assert imports_reap() == 1
    (job,) = Job.objects.all()  # revived, not duplicated
    assert (job.state, len(hints)) == (JobState.PENDING, 1)


def test_an_upload_whose_job_was_lost_gets_a_new_one(
    client_for, importer, landing, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        response = client_for(importer).post(
            "/api/v1/imports/",
            {"file": SimpleUploadedFile("gcp.csv", sample_bytes("gcp.csv")), "unit": "cloud"},
            format="multipart",
        )
    batch_id = response.json()["id"]
    ImportBatch.objects.filter(pk=batch_id).update(created_at=timezone.now() - timedelta(minutes=5))
    Job.objects.update(state=JobState.DONE)  # handed over, and the message lost
    with django_capture_on_commit_callbacks(execute=True):
        assert imports_reap() == 1
    assert ImportBatch.objects.get(pk=batch_id).status == ImportBatch.Status.SUCCEEDED
