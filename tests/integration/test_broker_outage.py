"""Acceptance of issue 14 (1): a broker that accepts connections and never answers holds no
request, and once a broker answers again every mail is delivered exactly once.

Real processes: gunicorn serving the API with its broker URL pointed at a TCP listener that
never answers, the job relay (first on that same listener, then on the real Redis), a Celery
worker on Redis and an aiosmtpd server that counts the mails.
"""

import json
import socket
import sys
import threading
import time
import urllib.request

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from costtrack.core.models import Job, JobState
from notifications.kinds import Kind
from notifications.models import Notification
from orgunits import services as org_services
from tests.integration.conftest import (
    _free_port,
    process_env,
    start_process,
    start_relay,
    wait_for,
)
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SUBMISSIONS = 20
APPROVERS = 3  # with the unit's owner: four mails per submission
REQUEST_BUDGET_SECONDS = 1.0


class SilentBroker:
    """A TCP listener on 127.0.0.1 that accepts every connection and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)  # held open, never read, never written

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_broker():
    broker = SilentBroker()
    yield broker
    broker.close()


@pytest.fixture
def web(silent_broker, tmp_path):
    """gunicorn serving costtrack, its broker the silent listener."""
    port = _free_port()
    env = process_env(redis_url=silent_broker.url)
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "costtrack.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--timeout",
        "60",
        "--access-logfile",
        "-",
    ]
    process = start_process(
        command, env=env, log_path=tmp_path / "web.log", ready="Booting worker", what="gunicorn"
    )
    process.url = f"http://127.0.0.1:{port}"
    yield process
    process.stop()


def _call(url, *, token, method="GET", body=None, timeout=30):
    request = urllib.request.Request(  # noqa: S310 -- a local test server
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return response.status, json.loads(response.read() or b"null")


@pytest.fixture
def team():
    owner = UserFactory(username="owner", email="owner@example.com")
    unit = OrganizationUnitFactory(name="Platform", code="platform", owner=owner)
    approvers = [UserFactory(email=f"approver{n}@example.com") for n in range(APPROVERS)]
    for approver in approvers:
        org_services.membership_set(user=approver, unit=unit, role="approver")
    submitter = UserFactory(username="sam", email="sam@example.com")
    org_services.membership_set(user=submitter, unit=unit, role="member")
    return unit, submitter, [owner, *approvers]


def test_a_silent_broker_holds_no_request_and_every_mail_goes_out_once(
    web, silent_broker, celery_worker, smtp_server, team, tmp_path
):
    unit, submitter, deciders = team
    token = Token.objects.create(user=submitter).key
    relay = start_relay(
        tmp_path / "relay-silent.log",
        redis_url=silent_broker.url,
        CELERY_BROKER_CONNECT_TIMEOUT="1",
        CELERY_BROKER_SOCKET_TIMEOUT="1",
    )
    try:
        # the first request of each gunicorn worker imports the views: not what is measured
        for _ in range(4):
            _call(f"{web.url}/api/v1/costs/?limit=1", token=token)

        timings = []
        for n in range(SUBMISSIONS):
            started = time.monotonic()
            status, body = _call(
                f"{web.url}/api/v1/costs/",
                token=token,
                method="POST",
                body={
                    "amount": "12.50",
                    "currency": "USD",
                    "incurred_on": "2025-03-15",
                    "organization_unit": unit.pk,
                    "description": f"Cloud bill {n}",
                },
            )
            timings.append(time.monotonic() - started)
            assert status == 201, body
        print(f"submission seconds: max {max(timings):.3f}, mean {sum(timings) / 20:.3f}")
        assert max(timings) < REQUEST_BUDGET_SECONDS, timings

        expected = SUBMISSIONS * len(deciders)
        rows = Notification.objects.filter(kind=Kind.APPROVAL_REQUESTED)
        assert rows.count() == expected
        assert Job.objects.filter(task="notifications.deliver_notification").count() == expected
        # the relay tried the silent broker, gave up fast and kept every job
        wait_for(lambda: Job.objects.exclude(last_error="").exists(), what="a dispatch to time out")
        assert not Job.objects.exclude(state=JobState.PENDING).exists()
        assert smtp_server.to("owner@example.com") == []
    finally:
        relay.stop()
    assert not smtp_server.messages

    # The broker answers again: a relay on the real Redis hands everything over.
    Job.objects.update(available_at=timezone.now())  # not the relay's back-off: a new one
    relay = start_relay(tmp_path / "relay-redis.log", redis_url=celery_worker.redis_url)
    try:
        wait_for(lambda: len(smtp_server.messages) >= expected, timeout=60, what="every e-mail")
        # Say every hand-over was lost before it was recorded (a dispatcher that crashed
        # after sending): everything is sent to the worker a second time, nothing mailed twice.
        Job.objects.update(state=JobState.PENDING)
        wait_for(
            lambda: not Job.objects.exclude(state=JobState.DONE).exists(),
            what="the second hand-over",
        )
        marker_token = Token.objects.create(user=deciders[0]).key
        status, marker = _call(
            f"{web.url}/api/v1/costs/",
            token=marker_token,
            method="POST",
            body={
                "amount": "1.00",
                "currency": "USD",
                "incurred_on": "2025-03-16",
                "organization_unit": unit.pk,
                "description": "Marker",
            },
        )
        assert status == 201, marker
        marker_rows = Notification.objects.filter(payload__cost_id=marker["id"])
        wait_for(
            lambda: all(smtp_server.for_notification(r.pk) for r in marker_rows),
            what="the marker's e-mails",
        )
    finally:
        relay.stop()

    for row in rows:
        assert len(smtp_server.for_notification(row.pk)) == 1, row.pk
    assert Notification.objects.filter(kind=Kind.APPROVAL_REQUESTED, emailed_at=None).count() == 0
    assert len(smtp_server.messages) == expected + marker_rows.count()
