"""The Celery beat schedule: every periodic job costtrack runs, in one place.

Apps add their periodic tasks here by task name (never by import, so this module stays
free of app imports and can be loaded by settings).
"""

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    # The job outbox's dispatcher and reaper (costtrack.core.jobs); the relay started by
    # `make worker` does the same at once, these keep it going where only the beat runs.
    # A dispatch nobody ran within its period is dropped, not piled up behind a busy worker.
    "core-dispatch-jobs": {
        "task": "core.dispatch_jobs",
        "schedule": 5.0,
        "options": {"expires": 5},
    },
    "core-reap-jobs": {
        "task": "core.reap_jobs",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
    "budgets-check-all": {
        "task": "budgets.check_all_budgets",
        "schedule": crontab(minute="*/15"),
    },
    "notifications-sweep-undelivered": {
        "task": "notifications.sweep_undelivered",
        "schedule": crontab(minute="*/5"),
    },
    "costs-pending-reminders": {
        "task": "costs.send_pending_reminders",
        "schedule": crontab(hour=7, minute=0),
    },
    # rate changes enqueue a reconversion on commit; this catches one lost to a broker outage
    "costs-reconvert-nightly": {
        "task": "costs.reconvert_costs",
        "schedule": crontab(hour=0, minute=30),
    },
    "notifications-daily-digest": {
        "task": "notifications.send_daily_digest",
        "schedule": crontab(hour=6, minute=30),
    },
    "costs-generate-recurring": {
        "task": "costs.generate_recurring_costs",
        "schedule": crontab(hour=1, minute=0),
    },
    # daily: the task closes last month once COSTS_PERIOD_CLOSE_DAY days of this one passed
    # (default 3) and tries again the next day while pending costs hold it back
    "costs-close-last-month": {
        "task": "costs.close_previous_period",
        "schedule": crontab(hour=2, minute=0),
    },
}
