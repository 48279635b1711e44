"""Delivery settings come from the environment, with defaults that never let an unreachable
broker or mail server hold a request or a worker indefinitely."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMES = (
    "EMAIL_TIMEOUT",
    "CELERY_BROKER_CONNECT_TIMEOUT",
    "CELERY_BROKER_SOCKET_TIMEOUT",
    "COSTS_REMINDER_AFTER_DAYS",
    "COSTS_ESCALATE_AFTER_DAYS",
)
PROBE = """
import json, django
django.setup()
from django.conf import settings
from costtrack.celery import app
options = app.conf.broker_transport_options
print(json.dumps({
    "email_timeout": settings.EMAIL_TIMEOUT,
    "connect": options["socket_connect_timeout"],
    "socket": options["socket_timeout"],
    "visibility": options["visibility_timeout"],
    "remind": settings.COSTS_REMINDER_AFTER_DAYS,
    "escalate": settings.COSTS_ESCALATE_AFTER_DAYS,
}))
"""


def settings_with(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in NAMES}
    clean.update({"DJANGO_SETTINGS_MODULE": "costtrack.settings.base", **env})
    out = subprocess.run(  # noqa: S603 -- our own interpreter and a fixed script
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_defaults_bound_every_network_wait():
    found = settings_with()
    assert found == {
        "email_timeout": 10,
        "connect": 3.0,
        "socket": 5.0,
        "visibility": 2400,
        "remind": 3,
        "escalate": 7,
    }


def test_values_are_read_from_the_environment():
    found = settings_with(
        EMAIL_TIMEOUT="7",
        CELERY_BROKER_CONNECT_TIMEOUT="1.5",
        CELERY_BROKER_SOCKET_TIMEOUT="2",
        COSTS_REMINDER_AFTER_DAYS="4",
        COSTS_ESCALATE_AFTER_DAYS="9",
    )
    assert found == {
        "email_timeout": 7,
        "connect": 1.5,
        "socket": 2.0,
        "visibility": 2400,
        "remind": 4,
        "escalate": 9,
    }


def test_budget_check_and_reconversion_tasks_have_time_limits():
    from budgets.tasks import check_all_budgets
    from costs.tasks import reconvert_costs

    for task in (check_all_budgets, reconvert_costs):
        assert 0 < task.soft_time_limit < task.time_limit, task.name


def test_the_visibility_timeout_outlasts_every_job():
    """Redis hands an unacknowledged message to another worker after the visibility
    timeout: were it shorter than a job (or a retry's countdown), a job still running would
    be started a second time."""
    from costtrack.celery import app

    visibility = app.conf.broker_transport_options["visibility_timeout"]
    for name, task in app.tasks.items():
        if name.startswith("celery."):
            continue
        longest = task.time_limit or app.conf.task_time_limit
        assert longest and longest < visibility, name
        assert (getattr(task, "retry_backoff_max", 0) or 0) < visibility, name


def test_a_pool_child_killed_gives_its_message_back():
    from costtrack.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
