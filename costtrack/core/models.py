"""The job outbox: work that leaves the process after a write, recorded in that write's
transaction and handed to Celery later by the dispatcher (``costtrack.core.jobs``).

A row names a Celery task and its arguments; it knows nothing of what the task does.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class JobState(models.TextChoices):
    PENDING = "pending", "Waiting for the dispatcher"
    QUEUED = "queued", "Handed to the broker"
    RUNNING = "running", "Claimed by a worker"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


LIVE_STATES = (JobState.PENDING, JobState.QUEUED, JobState.RUNNING)


class Job(models.Model):
    """One task to run, at least once handed over and at most once done.

    ``pending`` rows are sent by the dispatcher. A job of a *leased* task (see
    ``jobs.LeasedJobTask``) then stays ``queued`` until a worker claims it (``running``) and
    ends ``done`` or ``failed``; ``lease_expires_at`` is when the reaper may assume its
    worker is gone and hand it over again. Other jobs are ``done`` once handed over: their
    task is idempotent and has its own sweep. ``claims`` counts the claims since the last
    orderly hand-back (a retry): workers that died on the job. ``key`` names the thing a job
    works on; at most one live job has a given key.
    """

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    key = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.PENDING)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    available_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatches = models.PositiveIntegerField(default=0)
    claims = models.PositiveIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["available_at", "id"],
                name="job_pending",
                condition=Q(state="pending"),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="job_leased",
                condition=Q(state__in=["queued", "running"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["key"],
                name="job_one_live_per_key",
                condition=~Q(key="") & Q(state__in=["pending", "queued", "running"]),
            )
        ]

    def __str__(self) -> str:
        return f"job #{self.pk} {self.task} ({self.state})"
