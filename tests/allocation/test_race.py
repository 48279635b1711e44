"""Two requests for the same period at the same moment, on two real connections."""

import threading
import time
from unittest import mock

import pytest
from django.db import connection

from allocation import services
from allocation.models import AllocationRun
from costtrack.core.models import Job

from .factories import MARCH


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_requests_for_a_period_write_one_run():
    barrier = threading.Barrier(2)
    outcomes = [None, None]
    real_full_clean = AllocationRun.full_clean

    def slow_full_clean(self, *args, **kwargs):
        # Widen the gap between "is a run in flight?" and the insert: without the period
        # lock both requests would find none and write one each.
        time.sleep(0.5)
        return real_full_clean(self, *args, **kwargs)

    def request(index):
        try:
            barrier.wait(timeout=10)
            run, queued = services.allocation_run_request(**MARCH)
            outcomes[index] = (run.pk, queued)
        except Exception as exc:  # pragma: no cover - reported by the assertion
            outcomes[index] = repr(exc)
        finally:
            connection.close()

    with (
        mock.patch.object(AllocationRun, "full_clean", slow_full_clean),
        mock.patch("costtrack.core.jobs.dispatch.jobs_run_eagerly") as run_jobs,
    ):
        threads = [threading.Thread(target=request, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    [run] = AllocationRun.objects.all()
    assert sorted(outcomes, key=repr) == sorted([(run.pk, True), (run.pk, False)], key=repr)
    (job,) = Job.objects.all()
    assert (job.args, job.key) == ([run.pk], services.run_job_key(run.pk))
    run_jobs.assert_called_once_with(ids=[job.pk])
