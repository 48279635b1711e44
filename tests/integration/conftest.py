"""Real processes for integration tests: an SMTP server (aiosmtpd), a Celery worker and the
job relay (the outbox's dispatcher).

The worker runs ``celery -A costtrack worker`` with the embedded-mode settings pointed at the
SAME test database, the Redis database of REDIS_URL and this SMTP server; the relay hands
the jobs the test process records to that Redis, so a job is executed by a separate process
and its mail crosses a real SMTP connection. Processes run in sessions of their own so a
test can kill one with everything it started.
"""

import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from contextlib import contextmanager, suppress
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
    """The Redis of the integration workers: INTEGRATION_REDIS_URL, else REDIS_URL (each
    engineer and CI job sets a database of its own there), else one derived from the test
    database name (5-15), so concurrent runs never consume each other's tasks."""
    for name in ("INTEGRATION_REDIS_URL", "REDIS_URL"):
        if os.environ.get(name):
            return os.environ[name]
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


class Process:
    """A process of costtrack started by a test, its output in a log file."""

    def __init__(self, process, log_path, redis_url=""):
        self.process = process
        self.log_path = log_path
        self.redis_url = redis_url

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the process and everything it started (its session), as a crash would."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


Worker = Process


def process_env(*, redis_url: str, smtp_port: int | None = None, **extra) -> dict:
    """The environment of a costtrack process pointed at the test database and ``redis_url``."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "costtrack.settings.base",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": redis_url,
        "SITE_URL": SITE_URL,
        "LOG_LEVEL": "INFO",
        **extra,
    }
    if smtp_port is not None:
        env["EMAIL_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    return env


def start_process(command, *, env, log_path, ready: str, what: str) -> Process:
    """Start ``command`` in a session of its own and wait for ``ready`` in its output."""
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = Process(popen, log_path, env.get("REDIS_URL", ""))
    try:
        wait_for(
            lambda: popen.poll() is not None or ready in process.log(),
            timeout=60,
            what=what,
        )
    except BaseException:
        process.kill()
        raise
    if popen.poll() is not None:
        pytest.fail(f"{what}: the process exited at start:\n{process.log()[-4000:]}")
    return process


def start_worker(
    log_path, *, redis_url: str, smtp_port: int | None = None, pool: str = "solo", **extra_env
) -> Process:
    """A real ``celery -A costtrack worker`` on ``redis_url`` (``extra_env`` added to its
    environment; ``COSTTRACK_WORKER_INCLUDE`` names a module the worker imports first)."""
    include = extra_env.pop("include", None)
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "costtrack",
        "worker",
        f"--pool={pool}",
        "--concurrency=1",
        "-Q",
        "celery",
        "-n",
        f"integration-{os.getpid()}-{log_path.stem}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=INFO",
    ]
    if include:
        command += ["--include", include]
    env = process_env(redis_url=redis_url, smtp_port=smtp_port, **extra_env)
    return start_process(
        command, env=env, log_path=log_path, ready=" ready.", what="the Celery worker to start"
    )


def start_relay(log_path, *, redis_url: str, **extra_env) -> Process:
    """The dispatcher of the job outbox (``costtrack jobs relay``) on ``redis_url``."""
    command = [
        sys.executable,
        "manage.py",
        "jobs",
        "relay",
        "--poll",
        "0.5",
        "--reap-every",
        "1",
    ]
    env = process_env(redis_url=redis_url, **extra_env)
    return start_process(
        command, env=env, log_path=log_path, ready="Relay ready", what="the job relay to start"
    )


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, django_db_blocker, smtp_server, tmp_path_factory):
    """A real ``celery -A costtrack worker`` process on the integration Redis database."""
    redis_url = integration_redis_url()
    _purge_queue(redis_url)
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    worker = start_worker(log_path, redis_url=redis_url, smtp_port=smtp_server.port)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def relay(django_db_setup, celery_worker, tmp_path_factory):
    """The job relay, handing what the test process records to the worker's Redis."""
    log_path = tmp_path_factory.mktemp("relay") / "relay.log"
    process = start_relay(log_path, redis_url=celery_worker.redis_url)
    try:
        yield process
    finally:
        process.stop()


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
def broker(celery_worker, relay, transactional_db):
    """Make the test process record jobs for the relay and the worker instead of running
    tasks eagerly; a task sent from the test itself (``delay``) goes to the worker's Redis.

    ``broker.down()`` points the test process at a closed port, ``broker.up()`` back at Redis.
    """

    class Broker:
        worker = celery_worker
        dispatcher = relay

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
    if not celery_worker.alive():
        pytest.fail(f"The Celery worker died:\n{celery_worker.log()[-4000:]}")
    if not relay.alive():
        pytest.fail(f"The job relay died:\n{relay.log()[-4000:]}")
