"""The job outbox: recorded in the caller's transaction, handed to the broker in bulk by
the dispatcher, claimed under a lease, taken back by the reaper when its worker died."""

import os
import subprocess
from datetime import timedelta
from unittest import mock

import pytest
from celery import shared_task
from django.test import override_settings
from django.utils import timezone

from costtrack.core import jobs
from costtrack.core.jobs.dispatch import task_id_for
from costtrack.core.models import Job, JobState

pytestmark = pytest.mark.django_db

CALLS: list = []


@shared_task(name="tests.jobs.record")
def record(value):
    CALLS.append(value)
    return value


@shared_task(bind=True, base=jobs.LeasedJobTask, name="tests.jobs.leased")
def leased(self, value):
    CALLS.append((value, Job.objects.get(pk=jobs.job_id_of(self.request.id)).state))
    if value == "boom":
        raise ValueError("boom")
    return value


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()
    yield
    CALLS.clear()


@pytest.fixture
def broker():
    """The app as with a real broker (no eager run), publishing to an in-memory transport."""
    from costtrack.celery import app

    # the dispatcher opens a connection of its own per round: no pool to reset
    saved = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager, app.conf.broker_url = False, "memory://"
    try:
        yield app
    finally:
        app.conf.task_always_eager, app.conf.broker_url = saved


def test_a_job_runs_in_process_after_commit_when_tasks_run_eagerly(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=False) as hints:
        pk = jobs.job_enqueue(task="tests.jobs.record", args=["hello"])
        assert Job.objects.get(pk=pk).state == JobState.PENDING
    assert CALLS == []  # nothing before commit
    (hint,) = hints
    hint()
    assert CALLS == ["hello"]
    job = Job.objects.get(pk=pk)
    assert (job.state, job.dispatches) == (JobState.DONE, 1)


def test_held_jobs_are_written_but_not_run_until_the_dispatcher_finds_them(
    django_capture_on_commit_callbacks, broker
):
    broker.conf.task_always_eager = True
    with django_capture_on_commit_callbacks(execute=True) as hints, jobs.jobs_held():
        pk = jobs.job_enqueue(task="tests.jobs.record", args=["later"])
    assert (hints, CALLS) == ([], [])
    assert Job.objects.get(pk=pk).state == JobState.PENDING
    # outside the block the same enqueue wakes as always
    with django_capture_on_commit_callbacks(execute=True) as hints:
        other = jobs.job_enqueue(task="tests.jobs.record", args=["now"])
    assert CALLS == ["now"] and Job.objects.get(pk=other).state == JobState.DONE


def test_a_rolled_back_write_leaves_no_job(django_capture_on_commit_callbacks):
    from django.db import transaction

    with (
        django_capture_on_commit_callbacks(execute=True) as hints,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        jobs.job_enqueue(task="tests.jobs.record", args=["never"])
        raise RuntimeError("refused")
    assert (hints, CALLS, Job.objects.count()) == ([], [], 0)


def test_one_live_job_per_key_and_a_new_one_once_it_is_done(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as hints:
        first = jobs.job_enqueue(task="tests.jobs.record", args=[1], key="thing:1")
        again = jobs.job_enqueue(task="tests.jobs.record", args=[1], key="thing:1")
        other = jobs.job_enqueue(task="tests.jobs.record", args=[2], key="thing:2")
    assert first == again != other
    assert len(hints) == 2  # the second enqueue of thing:1 hands nothing over
    Job.objects.filter(pk=first).update(state=JobState.DONE)
    later = jobs.job_enqueue(task="tests.jobs.record", args=[1], key="thing:1")
    assert later not in (first, other)
    assert jobs.jobs_live_keys(["thing:1", "thing:2", "thing:3"]) == {"thing:1", "thing:2"}


def test_enqueueing_a_key_whose_worker_died_hands_it_over_again():
    pk = jobs.job_enqueue(task="tests.jobs.leased", args=["x"], key="run:9")
    Job.objects.filter(pk=pk).update(
        state=JobState.RUNNING,
        worker="elsewhere:1",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert jobs.jobs_live_keys(["run:9"]) == set()
    assert jobs.job_enqueue(task="tests.jobs.leased", args=["x"], key="run:9") == pk
    job = Job.objects.get(pk=pk)
    assert (job.state, job.worker, job.lease_expires_at) == (JobState.PENDING, "", None)


def test_the_dispatcher_hands_due_jobs_over_in_one_round(broker):
    due = [jobs.job_enqueue(task="tests.jobs.record", args=[n]) for n in range(3)]
    later = jobs.job_enqueue(task="tests.jobs.leased", args=["later"])
    Job.objects.filter(pk=later).update(available_at=timezone.now() + timedelta(minutes=1))
    lease = jobs.job_enqueue(task="tests.jobs.leased", args=["x"])
    sent = []
    with (
        mock.patch.object(record, "apply_async", side_effect=lambda **kw: sent.append(kw)),
        mock.patch.object(leased, "apply_async", side_effect=lambda **kw: sent.append(kw)),
    ):
        assert jobs.jobs_dispatch() == 4
        assert jobs.jobs_dispatch() == 0  # nothing is sent twice
    assert [kw["args"] for kw in sent] == [[0], [1], [2], ["x"]]
    assert len({id(kw["producer"]) for kw in sent}) == 1  # one connection for the round
    assert all(kw["retry"] is False for kw in sent)  # a slow broker is not waited for
    states = dict(Job.objects.values_list("pk", "state"))
    assert [states[pk] for pk in due] == [JobState.DONE] * 3  # handed over: done
    assert states[lease] == JobState.QUEUED  # leased: until a worker claims it
    assert states[later] == JobState.PENDING
    job = Job.objects.get(pk=lease)
    assert sent[3]["task_id"] == task_id_for(job) and jobs.job_id_of(sent[3]["task_id"]) == lease


def test_a_refusing_broker_keeps_the_jobs_for_the_next_round(broker):
    pks = [jobs.job_enqueue(task="tests.jobs.record", args=[n]) for n in range(3)]
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs["args"])
        if len(calls) == 2:
            raise TimeoutError("the broker does not answer")

    with mock.patch.object(record, "apply_async", side_effect=flaky):
        assert jobs.jobs_dispatch() == 1
    assert calls == [[0], [1]]  # the round stops at the first error
    rows = {j.pk: j for j in Job.objects.all()}
    assert rows[pks[0]].state == JobState.DONE
    for pk in pks[1:]:
        assert rows[pk].state == JobState.PENDING
        assert rows[pk].available_at > timezone.now()
        assert "does not answer" in rows[pk].last_error
        assert rows[pk].dispatches == 0
    Job.objects.update(available_at=timezone.now())
    with mock.patch.object(record, "apply_async") as send:
        assert jobs.jobs_dispatch() == 2
    assert [c.kwargs["args"] for c in send.call_args_list] == [[1], [2]]


def test_an_unknown_task_fails_its_job(broker):
    pk = jobs.job_enqueue(task="tests.jobs.nowhere")
    assert jobs.jobs_dispatch() == 0
    job = Job.objects.get(pk=pk)
    assert job.state == JobState.FAILED and "tests.jobs.nowhere" in job.last_error


def _running(worker, *, lease_in=60, claims=1):
    pk = jobs.job_enqueue(task="tests.jobs.leased", args=["again"])
    Job.objects.filter(pk=pk).update(
        state=JobState.RUNNING,
        worker=worker,
        claims=claims,
        lease_expires_at=timezone.now() + timedelta(seconds=lease_in),
    )
    return pk


def _dead_local_pid() -> int:
    child = subprocess.Popen(["true"])  # noqa: S603, S607
    child.wait()
    return child.pid


def test_a_claim_skips_finished_jobs_and_jobs_held_by_a_live_worker():
    import socket

    held = _running(f"{socket.gethostname()}:{os.getppid()}")
    assert jobs.job_claim(job_id=held) is None
    done = jobs.job_enqueue(task="tests.jobs.leased", args=["x"])
    Job.objects.filter(pk=done).update(state=JobState.DONE)
    assert jobs.job_claim(job_id=done) is None


def test_a_claim_takes_a_job_whose_pool_child_is_gone_or_whose_lease_expired():
    import socket

    killed_child = _running(f"{socket.gethostname()}:{_dead_local_pid()}")
    assert jobs.job_claim(job_id=killed_child) == jobs.lease.worker_name()
    expired = _running("another-host:4242", lease_in=-1)
    assert jobs.job_claim(job_id=expired) == jobs.lease.worker_name()
    job = Job.objects.get(pk=expired)
    assert (job.state, job.claims) == (JobState.RUNNING, 2)
    assert job.lease_expires_at > timezone.now()


@override_settings(COSTTRACK_JOB_MAX_CLAIMS=3)
def test_a_job_that_keeps_killing_its_workers_is_failed():
    pk = _running("another-host:4242", lease_in=-1, claims=3)
    assert jobs.job_claim(job_id=pk) is None
    job = Job.objects.get(pk=pk)
    assert job.state == JobState.FAILED and "died 3 times" in job.last_error


def _as_worker(task, job_id, *args):
    """Run ``task`` as a worker would for the message of job ``job_id`` (not eagerly)."""
    job = Job.objects.get(pk=job_id)
    task.push_request(id=task_id_for(job), is_eager=False)
    try:
        return task(*args)
    finally:
        task.pop_request()


def test_a_leased_task_claims_its_job_runs_once_and_ignores_a_second_delivery():
    pk = jobs.job_enqueue(task="tests.jobs.leased", args=["x"])
    Job.objects.filter(pk=pk).update(state=JobState.QUEUED, dispatches=1)
    assert _as_worker(leased, pk, "x") == "x"
    assert CALLS == [("x", JobState.RUNNING)]
    job = Job.objects.get(pk=pk)
    assert (job.state, job.claims, job.lease_expires_at) == (JobState.DONE, 1, None)
    assert _as_worker(leased, pk, "x") is None  # redelivered after it finished
    assert len(CALLS) == 1


def test_a_leased_task_that_raises_fails_its_job():
    pk = jobs.job_enqueue(task="tests.jobs.leased", args=["boom"])
    with pytest.raises(ValueError):
        _as_worker(leased, pk, "boom")
    job = Job.objects.get(pk=pk)
    assert job.state == JobState.FAILED and job.last_error == "ValueError: boom"


def test_the_reaper_hands_over_again_only_expired_leases():
    expired = _running("another-host:1", lease_in=-5)
    alive = _running("another-host:2", lease_in=60)
    queued_long_ago = jobs.job_enqueue(task="tests.jobs.leased", args=["q"])
    Job.objects.filter(pk=queued_long_ago).update(
        state=JobState.QUEUED, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    counts = jobs.jobs_reap()
    assert counts["jobs"] == 2
    states = dict(Job.objects.values_list("pk", "state"))
    assert states == {
        expired: JobState.PENDING,
        alive: JobState.RUNNING,
        queued_long_ago: JobState.PENDING,
    }
    assert jobs.jobs_reap()["jobs"] == 0


def test_the_apps_reapers_run_with_the_reaper():
    from costtrack.core.jobs import dispatch

    assert {"allocation_runs", "periods", "imports"} <= set(dispatch._reapers)
    assert set(jobs.jobs_reap()) >= {"jobs", "allocation_runs", "periods", "imports"}


def test_the_relay_reaps_then_dispatches_every_round_until_stopped():
    from costtrack.core.jobs.relay import relay

    pk = jobs.job_enqueue(task="tests.jobs.record", args=["relayed"])
    expired = _running("another-host:1", lease_in=-5)
    stops = iter([False, True])
    relay(poll=0.01, reap_every=60, stop=lambda: next(stops))
    assert CALLS == ["relayed", ("again", JobState.QUEUED)]  # in-process here (eager)
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.DONE}
    assert Job.objects.get(pk=expired).dispatches == 1
    assert Job.objects.get(pk=pk).dispatches == 1


def test_the_beat_runs_the_dispatcher_every_few_seconds_and_the_reaper():
    from costtrack.beat import BEAT_SCHEDULE
    from costtrack.celery import app

    app.loader.import_default_modules()
    entries = {e["task"]: e for e in BEAT_SCHEDULE.values()}
    assert entries["core.dispatch_jobs"]["schedule"] <= 10
    assert entries["core.reap_jobs"]["schedule"] <= 60
    assert {"core.dispatch_jobs", "core.reap_jobs"} <= set(app.tasks)


@pytest.mark.django_db(transaction=True)
def test_enqueueing_never_waits_for_a_job_the_dispatcher_holds(broker):
    """The dispatcher keeps its rows locked while it waits on the broker (seconds, when the
    broker hangs); a request enqueueing the same key meanwhile must not wait for it."""
    import threading
    import time

    from django.db import connection, transaction

    pk = jobs.job_enqueue(task="tests.jobs.leased", args=["x"], key="held:1")
    locked, release = threading.Event(), threading.Event()

    def dispatcher():
        try:
            with transaction.atomic():
                Job.objects.select_for_update().get(pk=pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=dispatcher)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        again = jobs.job_enqueue(task="tests.jobs.leased", args=["x"], key="held:1")
        assert time.monotonic() - started < 1
        assert again == pk
    finally:
        release.set()
        holder.join(10)
    assert Job.objects.count() == 1
