"""Suite-wide set-up: real PostgreSQL (no SQLite fallback), API clients per role."""

import os

import psycopg
import pytest
from django.conf import settings


def pytest_configure(config):
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise pytest.UsageError(
            f"costtrack's tests run on PostgreSQL; DATABASE_URL points at {db['ENGINE']}."
        )
    try:
        psycopg.connect(
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            dbname="postgres",
            connect_timeout=5,
        ).close()
    except psycopg.OperationalError as exc:
        ci = " (CI=true: a missing server is a failure, not a skip)" if os.environ.get("CI") else ""
        raise pytest.UsageError(
            f"PostgreSQL is not reachable at {db.get('HOST')}:{db.get('PORT')}{ci}. "
            f"Start it or set DATABASE_URL. Error: {exc}"
        ) from None


@pytest.fixture(autouse=True)
def spend_summary_equals_costs(request):
    """After every test that wrote to the database, the spend summary equals the raw costs to
    the cent (``costtrack summaries check``): a write path that forgot it fails here."""
    marker = request.node.get_closest_marker("django_db")
    names = request.fixturenames
    if "transactional_db" in names or (marker and marker.kwargs.get("transaction")):
        request.getfixturevalue("transactional_db")
    elif "db" in names or marker:
        request.getfixturevalue("db")
    else:
        yield
        return
    yield
    from django.db import connection

    from costs.summary.check import summary_differences

    # a test that ended inside a failed transaction (an expected IntegrityError) can read
    # nothing more; its writes are rolled back anyway
    broken = connection.needs_rollback or (
        connection.connection is not None and connection.connection.info.transaction_status == 3
    )
    if connection.vendor == "postgresql" and connection.connection is not None and not broken:
        differences = summary_differences(limit=3)
        assert not differences, "spend summary != costs:\n" + "\n".join(map(str, differences))


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def client_for(api_client):
    """``client_for(user)``: an API client signed in as that user."""
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        client.force_authenticate(user=user)
        return client

    return make
