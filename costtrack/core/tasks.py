"""Beat tasks of the job outbox: the dispatcher and the reaper, for deployments that run
the beat (the relay of ``make worker`` does the same work without the broker's help)."""

from celery import shared_task

from . import jobs


@shared_task(name="core.dispatch_jobs", ignore_result=True, soft_time_limit=60, time_limit=90)
def dispatch_jobs() -> int:
    """Beat (every few seconds): hand every due job of the outbox to the broker."""
    from .jobs.relay import relay_round

    return relay_round()


@shared_task(name="core.reap_jobs", ignore_result=True, soft_time_limit=60, time_limit=90)
def reap_jobs() -> dict[str, int]:
    """Beat: hand over again the jobs whose worker died, and let the apps take back theirs."""
    return jobs.jobs_reap()
