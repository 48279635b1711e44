"""The costs app's reapers (``costtrack.core.jobs.register_reaper``): work a dead worker or
a lost job left unfinished is given a job again, so it finishes by itself.

- a period left ``closing`` resumes its close (``costs.close_period``), as the user who
  asked for it when their job is known;
- an uploaded import left ``queued`` or ``running`` runs again (``costs.run_import``; the
  import is one transaction, nothing of the first attempt was kept).

Only records that no live job works on, that no transaction holds (``SKIP LOCKED``) and
that are older than a lease are taken, so a close or import in progress is left alone.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from costtrack.core.jobs import jobs_live_keys, lease_seconds
from costtrack.core.models import Job

from .import_models import ImportBatch
from .imports.services import import_enqueue, import_job_key
from .period_models import AccountingPeriod, PeriodStatus
from .periods.services import CLOSE_TASK, close_job_key

BATCH = 100


def _stalled(ids: list[int], key) -> list[int]:
    live = jobs_live_keys(key(pk) for pk in ids)
    return [pk for pk in ids if key(pk) not in live]


def _last_args(key: str) -> list | None:
    return Job.objects.filter(key=key).order_by("-id").values_list("args", flat=True).first()


def periods_reap(*, now=None) -> int:
    """Resume the close of every period left ``closing``. Returns how many were enqueued."""
    from costtrack.core.jobs import job_enqueue

    now = now or timezone.now()
    grace = now - timedelta(seconds=lease_seconds())
    with transaction.atomic():
        ids = list(
            AccountingPeriod.objects.select_for_update(skip_locked=True)
            .filter(status=PeriodStatus.CLOSING, closing_started_at__lt=grace)
            .values_list("pk", flat=True)[:BATCH]
        )
        stalled = _stalled(ids, close_job_key)
        for pk in stalled:
            args = _last_args(close_job_key(pk)) or [pk, None, None]
            job_enqueue(task=CLOSE_TASK, args=args, key=close_job_key(pk))
    return len(stalled)


def imports_reap(*, now=None) -> int:
    """Run again every uploaded import left ``queued`` or ``running`` with no live job
    (imports from the command line run in their own process and are not taken)."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=lease_seconds())
    with transaction.atomic():
        ids = list(
            ImportBatch.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status__in=[ImportBatch.Status.QUEUED, ImportBatch.Status.RUNNING],
                created_at__lt=grace,
                upload__isnull=False,
            )
            .values_list("pk", flat=True)[:BATCH]
        )
        stalled = _stalled(ids, import_job_key)
        for pk in stalled:
            import_enqueue(batch_id=pk)
    return len(stalled)


def connect() -> None:
    """Register the reapers (called from ``CostsConfig.ready``)."""
    from costtrack.core.jobs import register_reaper

    register_reaper("periods", periods_reap)
    register_reaper("imports", imports_reap)
