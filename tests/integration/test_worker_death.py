"""Acceptance of issue 14 (2): a worker killed with SIGKILL in the middle of an allocation
run or of a period close loses nothing: after the kill the job is run again (the message
given back by the worker, or the reaper once the lease expired) and finishes, with no
duplicate rows and without anyone asking again.

Real processes: Celery workers on Redis (made slow in the allocation engine by
``tests/integration/slow_jobs.py``), the job relay (dispatcher and reaper) and an aiosmtpd
server; each test kills a worker for real.
"""

import os
import time
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings

from allocation import engine
from allocation import services as allocation_services
from allocation.models import AllocationFlow, AllocationResult, AllocationRun, LedgerEntry
from costs.period_models import AccountingPeriod
from costs.periods import period_close_enqueue, period_create
from costtrack.core.models import Job, JobState
from notifications.kinds import Kind
from notifications.models import Notification
from tests.allocation.factories import MARCH, approved_cost, edge, node, resource_node
from tests.integration.conftest import (
    _celery_conf,
    _purge_queue,
    integration_redis_url,
    start_relay,
    start_worker,
    wait_for,
)
from tests.orgunits.factories import finance_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LEASE = "4"  # seconds: a dead worker's job is taken back about this long after it died
SLOW = "120"  # seconds the first allocation sleeps: far longer than the test waits


@pytest.fixture
def redis_url():
    """The workers' Redis; the test process records jobs for them instead of running eagerly."""
    url = integration_redis_url()
    _purge_queue(url)
    with (
        override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=url),
        _celery_conf(task_always_eager=False, broker_url=url),
    ):
        yield url


@pytest.fixture
def processes(redis_url, smtp_server, tmp_path):
    """Start workers and the relay with the short lease; stop whatever is left at the end."""
    started = []
    env = {"COSTTRACK_JOB_LEASE_SECONDS": LEASE, "COSTTRACK_SLOW_SECONDS": SLOW}

    class Processes:
        marker = tmp_path / "slow-marker"

        def worker(self, name, **extra):
            process = start_worker(
                tmp_path / f"{name}.log",
                redis_url=redis_url,
                smtp_port=smtp_server.port,
                include="tests.integration.slow_jobs",
                COSTTRACK_SLOW_MARKER=str(self.marker),
                **env,
                **extra,
            )
            started.append(process)
            return process

        def relay(self):
            process = start_relay(tmp_path / "relay.log", redis_url=redis_url, **env)
            started.append(process)
            return process

    yield Processes()
    for process in reversed(started):
        if process.alive():
            process.stop()


def _graph():
    compute, storage = resource_node("compute"), resource_node("storage")
    web, api = node("web"), node("api")
    for parent in (compute, storage):
        edge(parent, web)
        edge(parent, api)
    approved_cost("100.00", resource=compute.resource)
    approved_cost("33.33", resource=storage.resource)


def _expected_counts() -> dict:
    loaded = allocation_services.load_period(**MARCH)
    outcome = engine.allocate(loaded.input)
    return {
        "results": len(outcome.results),
        "flows": len(outcome.flows),
        "ledger": len(outcome.ledger),
    }


def _rows_of(run) -> dict:
    return {
        "results": AllocationResult.objects.filter(run=run).count(),
        "flows": AllocationFlow.objects.filter(run=run).count(),
        "ledger": LedgerEntry.objects.filter(run=run).count(),
    }


def _slow_job_started(processes, job_id):
    """Wait until the slow allocation sleeps; return the claiming process's pid."""
    wait_for(processes.marker.exists, timeout=45, what="the slow allocation to start")
    job = wait_for(
        lambda: Job.objects.filter(pk=job_id, state=JobState.RUNNING).first(),
        what="the job to be claimed",
    )
    pid = int(job.worker.rpartition(":")[2])
    assert pid == int(processes.marker.read_text())
    return job, pid


def _heartbeat_moves(job_id, before):
    time.sleep(float(LEASE) / 3 + 1)
    after = Job.objects.get(pk=job_id).lease_expires_at
    assert after > before, "the heartbeat should extend the lease of a job at work"


def test_an_allocation_run_whose_pool_child_is_killed_finishes_by_itself(processes):
    _graph()
    expected = _expected_counts()
    processes.worker("prefork", pool="prefork")
    processes.relay()
    started = time.monotonic()
    run, queued = allocation_services.allocation_run_request(**MARCH)
    assert queued
    job_id = Job.objects.get(key=allocation_services.run_job_key(run.pk)).pk

    job, child = _slow_job_started(processes, job_id)
    _heartbeat_moves(job_id, job.lease_expires_at)
    os.kill(child, 9)  # SIGKILL the pool child in the middle of the run

    run = wait_for(
        lambda: AllocationRun.objects.filter(
            pk=run.pk, status=AllocationRun.Status.SUCCEEDED
        ).first(),
        timeout=45,
        what="the run to finish after the kill",
    )
    print(f"run finished {time.monotonic() - started:.1f}s after it was asked for")
    assert AllocationRun.objects.count() == 1
    assert _rows_of(run) == expected
    assert {k: run.counts[k] for k in expected} == expected
    assert run.raw_total == Decimal("133.33")
    assert run.invariants["ledger_balanced"] is True and run.invariants["violations"] == []
    job = Job.objects.get(pk=job_id)
    assert (job.state, job.claims) == (JobState.DONE, 2)


def test_a_period_close_whose_worker_is_killed_finishes_by_itself(processes, smtp_server):
    _graph()
    expected = _expected_counts()
    finance = finance_user(email="fin@example.com")
    period = period_create(label="2025-03")
    first = processes.worker("first")
    processes.relay()
    started = time.monotonic()
    period_close_enqueue(period=period, acting_user=finance)
    job_id = Job.objects.get(task="costs.close_period").pk

    job, pid = _slow_job_started(processes, job_id)
    assert pid == first.pid  # solo pool: the worker itself
    period.refresh_from_db()
    assert period.status == AccountingPeriod.Status.CLOSING
    first.kill()  # SIGKILL the worker and everything it started, mid-close

    # Every cost of the month is refused while it is closing; it must not stay so.
    processes.worker("second")
    period = wait_for(
        lambda: AccountingPeriod.objects.filter(
            pk=period.pk, status=AccountingPeriod.Status.CLOSED
        ).first(),
        timeout=50,
        what="the period to close after the kill",
    )
    print(f"period closed {time.monotonic() - started:.1f}s after the close was asked for")
    (run,) = AllocationRun.objects.all()
    assert run.status == AllocationRun.Status.SUCCEEDED
    assert (run.period_start, run.period_end) == (date(2025, 3, 1), date(2025, 3, 31))
    assert _rows_of(run) == expected
    assert period.closed_by == finance
    assert period.totals["steps"]["allocation"]["run_id"] == run.pk
    assert Notification.objects.filter(kind=Kind.PERIOD_CLOSED).count() == 1
    job = Job.objects.get(pk=job_id)
    assert (job.state, job.claims) == (JobState.DONE, 2)
    assert Job.objects.filter(task="costs.close_period").count() == 1
    connection.close()
