"""Reports served from a real streaming replica (DATABASE_REPLICA_URL), writes on the primary.

A throwaway primary cluster gets the test database's schema, a ``pg_basebackup -R`` replica
follows it, and costtrack runs under gunicorn against both. With the replica's WAL replay
paused, a cost approved on the primary is in the cost list (primary) but not in the reports
(replica); once replay resumes the reports show it.
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import date

import pytest
from django.conf import settings

from tests.integration.conftest import BASE_DIR, _free_port, wait_for
from tests.integration.pg_replication import ReplicatedPair, postgres_bin_dir

# django_db: so the test database (whose schema the primary copies) is created
pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SETUP = """
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from costs.categories import ensure_default_categories
from orgunits import services

ensure_default_categories()
finance, _ = Group.objects.get_or_create(name="finance")
tokens = {}
for name in ("alice", "bob"):
    user = User.objects.create_user(name, f"{name}@example.com", "pw-" + name)
    user.groups.add(finance)
    tokens[name] = Token.objects.create(user=user).key
unit = services.unit_create(name="Replica Co", code="replica-co", acting_user=None)
print("SETUP", tokens["alice"], tokens["bob"], unit.pk)
"""


class Api:
    def __init__(self, base: str):
        self.base = base

    def call(self, method: str, path: str, token: str, body: dict | None = None):
        request = urllib.request.Request(  # noqa: S310 - a local http URL built here
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")


@pytest.fixture(scope="module")
def replicated(django_db_setup):
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries (initdb, pg_basebackup) are not installed.")
        pytest.skip("PostgreSQL server binaries (initdb, pg_basebackup) are not installed.")
    pair = ReplicatedPair(bin_dir)
    try:
        pair.start(schema_from=dict(settings.DATABASES["default"]))
        yield pair
    except subprocess.CalledProcessError as exc:
        pytest.fail(
            f"{exc.cmd[0]} failed: {exc.stderr}\n{pair.log('primary')}\n{pair.log('replica')}"
        )
    finally:
        pair.stop()


@pytest.fixture(scope="module")
def server(replicated, tmp_path_factory):
    """gunicorn serving costtrack with DATABASE_URL on the primary and the replica beside."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "costtrack.settings.base",
        "DATABASE_URL": replicated.primary.url,
        "DATABASE_REPLICA_URL": replicated.replica.url,
        "REDIS_URL": "",
        "EMAIL_URL": "consolemail://",
        "LOG_LEVEL": "WARNING",
    }
    setup = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "manage.py", "shell", "-c", SETUP],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert setup.returncode == 0, setup.stderr[-3000:]
    _, alice, bob, unit = next(
        line for line in setup.stdout.splitlines() if line.startswith("SETUP")
    ).split()
    port = _free_port()
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "gunicorn",
                "costtrack.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                "1",
                "--timeout",
                "30",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    api = Api(f"http://127.0.0.1:{port}")
    api.alice, api.bob, api.unit = alice, bob, int(unit)

    def up():
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{log_path.read_text()[-3000:]}")
        try:
            return api.call("GET", "/healthz", alice)[0] == 200
        except OSError:
            return False

    try:
        wait_for(up, timeout=20, what="gunicorn to serve")
        yield api
    finally:
        process.terminate()
        process.wait(timeout=10)


def _approved_cost(api: Api, amount: str) -> int:
    """A cost alice submits and bob approves, through the API (writes: the primary)."""
    status, cost = api.call(
        "POST",
        "/api/v1/costs/",
        api.alice,
        {
            "amount": amount,
            "currency": "USD",
            "incurred_on": date.today().isoformat(),
            "organization_unit": api.unit,
            "description": f"replica test {amount}",
        },
    )
    assert status == 201, cost
    status, body = api.call("POST", f"/api/v1/costs/{cost['id']}/approve/", api.bob, {})
    assert status == 200 and body["status"] == "approved", body
    return cost["id"]


def _report_total(api: Api) -> str:
    status, body = api.call("GET", "/api/v1/reports/summary/?period=annual", api.alice)
    assert status == 200, body
    return body["total"]


def _rollup_total(api: Api) -> str:
    status, body = api.call("GET", f"/api/v1/org-units/{api.unit}/rollup/", api.alice)
    assert status == 200, body
    return body["total"]


def test_reports_are_served_by_the_replica_and_writes_by_the_primary(replicated, server):
    started = time.monotonic()
    first = _approved_cost(server, "10.00")
    # the write went to the primary, which is the only one that accepts writes
    assert replicated.primary.one("SELECT count(*) FROM costs_cost WHERE id = %s", [first]) == 1
    assert replicated.replica.one("SELECT pg_is_in_recovery()") is True
    replicated.wait_replayed()
    assert _report_total(server) == "10.00"
    assert _rollup_total(server) == "10.00"

    # freeze the replica: what the primary writes now, only the primary knows
    replicated.replica.one("SELECT pg_wal_replay_pause()")
    wait_for(
        lambda: replicated.replica.one("SELECT pg_get_wal_replay_pause_state()") == "paused",
        timeout=10,
        what="the replica's replay to pause",
    )
    second = _approved_cost(server, "5.50")
    assert replicated.primary.one("SELECT count(*) FROM costs_cost") == 2
    # the cost list reads the primary; the reports read the paused replica
    status, listed = server.call("GET", "/api/v1/costs/", server.alice)
    assert status == 200 and {c["id"] for c in listed["results"]} == {first, second}
    assert _report_total(server) == "10.00"
    assert _rollup_total(server) == "10.00"

    replicated.replica.one("SELECT pg_wal_replay_resume()")
    wait_for(lambda: _report_total(server) == "15.50", timeout=15, what="the replica to catch up")
    assert _rollup_total(server) == "15.50"
    assert time.monotonic() - started < 30
