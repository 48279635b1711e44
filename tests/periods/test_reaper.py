"""The periods reaper: a period left ``closing`` by a dead worker (or a lost job) is given
a job again and its close finishes by itself."""

from datetime import timedelta

import pytest
from django.utils import timezone

from costs.period_models import AccountingPeriod, PeriodStatus
from costs.periods import period_close_enqueue, period_create
from costs.reapers import periods_reap
from costtrack.core.models import Job, JobState

pytestmark = pytest.mark.django_db


def _left_closing(label, *, ago=timedelta(minutes=5)):
    period = period_create(label=label)
    AccountingPeriod.objects.filter(pk=period.pk).update(
        status=PeriodStatus.CLOSING, closing_started_at=timezone.now() - ago
    )
    return period


def test_a_period_left_closing_resumes_its_close_as_the_user_who_asked(
    org, django_capture_on_commit_callbacks
):
    period = _left_closing("2025-02")
    with django_capture_on_commit_callbacks():
        period_close_enqueue(period=period, acting_user=org.fin)
    Job.objects.update(state=JobState.FAILED)  # its job was lost
    just_now = _left_closing("2025-03", ago=timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert periods_reap() == 1
    period.refresh_from_db()
    assert (period.status, period.closed_by) == (PeriodStatus.CLOSED, org.fin)
    just_now.refresh_from_db()
    assert just_now.status == PeriodStatus.CLOSING  # a close may still be at work on it
    with django_capture_on_commit_callbacks(execute=True) as hints:
        assert periods_reap() == 0
    assert hints == []


def test_a_period_whose_close_job_is_alive_is_left_to_it(org, django_capture_on_commit_callbacks):
    period = _left_closing("2025-02")
    with django_capture_on_commit_callbacks():
        period_close_enqueue(period=period, acting_user=org.fin)
    Job.objects.update(
        state=JobState.RUNNING, lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert periods_reap() == 0
    assert AccountingPeriod.objects.get(pk=period.pk).status == PeriodStatus.CLOSING
