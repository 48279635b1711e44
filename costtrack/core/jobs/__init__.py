"""The job outbox: everything that leaves the process after a write goes through here.

- ``job_enqueue`` / ``jobs_enqueue`` record a Celery task by name in the caller's
  transaction; a request never talks to the broker.
- The dispatcher (``jobs_dispatch``) hands due jobs to the broker in bulk, from the relay
  process (``costtrack jobs relay``) and from the beat (``core.dispatch_jobs``).
- ``LeasedJobTask`` is the base of long tasks whose worker may die: claim, heartbeat,
  finish; the reaper (``jobs_reap``, beat ``core.reap_jobs``) hands over again the jobs
  whose lease expired and runs the reapers apps registered with ``register_reaper``.
"""

from .dispatch import job_id_of, jobs_dispatch, jobs_reap, jobs_run_eagerly, register_reaper
from .lease import LeasedJobTask, job_claim, job_finish
from .outbox import (
    JobSpec,
    job_enqueue,
    jobs_enqueue,
    jobs_held,
    jobs_live_keys,
    runs_eagerly,
)
from .settings import lease_seconds

__all__ = [
    "JobSpec",
    "LeasedJobTask",
    "job_claim",
    "job_enqueue",
    "job_finish",
    "job_id_of",
    "jobs_dispatch",
    "jobs_enqueue",
    "jobs_held",
    "jobs_live_keys",
    "jobs_reap",
    "jobs_run_eagerly",
    "lease_seconds",
    "register_reaper",
    "runs_eagerly",
]
