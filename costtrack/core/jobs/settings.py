"""The knobs of the job outbox, each a Django setting with a default that suits production."""

from django.conf import settings

from costtrack.core.models import JobState


def lease_seconds() -> float:
    """How long a claimed job may go without a heartbeat before its worker is taken for dead."""
    return float(getattr(settings, "COSTTRACK_JOB_LEASE_SECONDS", 60))


def queue_lease_seconds() -> float:
    """How long a handed-over job may wait for a worker before it is handed over again."""
    return float(getattr(settings, "COSTTRACK_JOB_QUEUE_LEASE_SECONDS", 600))


def retry_seconds() -> float:
    """How long a job waits after the broker refused it before the dispatcher tries again."""
    return float(getattr(settings, "COSTTRACK_JOB_RETRY_SECONDS", 5))


def max_claims() -> int:
    """Claims after which a job whose workers keep dying is failed (a job that kills them)."""
    return int(getattr(settings, "COSTTRACK_JOB_MAX_CLAIMS", 5))


def batch_size() -> int:
    return int(getattr(settings, "COSTTRACK_JOB_DISPATCH_BATCH", 200))


LIVE = [JobState.PENDING, JobState.QUEUED, JobState.RUNNING]
LEASED = [JobState.QUEUED, JobState.RUNNING]
