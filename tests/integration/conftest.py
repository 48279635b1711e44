"""Real processes for integration tests: an SMTP server (aiosmtpd) and a Celery worker.

The worker runs ``celery -A costtrack worker`` with the embedded-mode settings pointed at the
SAME test database, a Redis database of its own and this SMTP server, so a task
enqueued by the test process is executed by a separate process and its mail crosses a real
SMTP connection.
"""

import email
import email.policy
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

BASE_DIR = Path(__file__).resolve().parent.parent.parent
REDIS_BASE = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
UNREACHABLE_BROKER_URL = "redis://127.0.0.1:1/0"
SITE_URL = "http://costtrack.integration.test"
WAIT_SECONDS = 30


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, *, timeout=WAIT_SECONDS, what="condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"Timed out after {timeout}s waiting for {what}.")


class Mailbox:
    """aiosmtpd handler keeping every message received, parsed."""

    def __init__(self):
        self._lock = threading.Lock()
        self._messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self._messages.append(message)
        return "250 Message accepted for delivery"

    @property
    def messages(self):
        with self._lock:
            return list(self._messages)

    def to(self, address: str):
        return [m for m in self.messages if address in m["To"]]

    def for_notification(self, pk: int):
        return [m for m in self.messages if m["X-Costtrack-Notification"] == str(pk)]

    def clear(self):
        with self._lock:
            self._messages.clear()


@pytest.fixture(scope="module")
def smtp_server():
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    mailbox.port = controller.port
    try:
        yield mailbox
    finally:
        controller.stop()


def integration_redis_url() -> str:
    """A Redis database of its own (5-15, from the test database name), so concurrent runs
    with different DATABASE_URLs never consume each other's tasks. INTEGRATION_REDIS_URL
    overrides it."""
    if os.environ.get("INTEGRATION_REDIS_URL"):
        return os.environ["INTEGRATION_REDIS_URL"]
    number = 5 + zlib.crc32(settings.DATABASES["default"]["NAME"].encode()) % 11
    return f"{REDIS_BASE}/{number}"


def _purge_queue(url: str) -> None:
    """Drop tasks a previous, interrupted run left in the worker's queue."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.delete("celery", "unacked", "unacked_index")
    finally:
        client.close()


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db.get("USER") or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return (
        f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


class Worker:
    def __init__(self, process, redis_url, log_path):
        self.process = process
        self.redis_url = redis_url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, django_db_blocker, smtp_server, tmp_path_factory):
    """A real ``celery -A costtrack worker`` process on the integration Redis database."""
    redis_url = integration_redis_url()
    _purge_queue(redis_url)
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "costtrack.settings.base",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": redis_url,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_server.port}",
        "SITE_URL": SITE_URL,
        "LOG_LEVEL": "INFO",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "costtrack",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        "-Q",
        "celery",
        "-n",
        f"integration-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=INFO",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    worker = Worker(process, redis_url, log_path)
    try:
        wait_for(
            lambda: process.poll() is not None or " ready." in worker.log(),
            what="the Celery worker to start",
        )
        if process.poll() is not None:
            pytest.fail(f"The Celery worker exited at start:\n{worker.log()[-4000:]}")
        yield worker
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _reconnect(app):
    """Forget pooled broker connections so the next publish uses ``app.conf.broker_url``."""
    app.close()
    app.amqp._producer_pool = None


@contextmanager
def _celery_conf(**conf):
    from costtrack.celery import app

    saved = {key: app.conf[key] for key in conf}
    app.conf.update(conf)
    _reconnect(app)
    try:
        yield app
    finally:
        app.conf.update(saved)
        _reconnect(app)


@pytest.fixture
def broker(celery_worker, transactional_db):
    """Make the test process enqueue to the worker's queue instead of running tasks eagerly.

    ``broker.down()`` points the app at a closed port, ``broker.up()`` back at Redis.
    """

    class Broker:
        worker = celery_worker

        def down(self):
            from costtrack.celery import app

            app.conf.broker_url = UNREACHABLE_BROKER_URL
            _reconnect(app)

        def up(self):
            from costtrack.celery import app

            app.conf.broker_url = celery_worker.redis_url
            _reconnect(app)

    with (
        override_settings(
            CELERY_TASK_ALWAYS_EAGER=False,
            CELERY_BROKER_URL=celery_worker.redis_url,
            SITE_URL=SITE_URL,
        ),
        _celery_conf(
            task_always_eager=False,
            broker_url=celery_worker.redis_url,
        ),
    ):
        yield Broker()
    if celery_worker.process.poll() is not None:
        pytest.fail(f"The Celery worker died:\n{celery_worker.log()[-4000:]}")
