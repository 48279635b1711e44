"""Database helpers shared by the apps."""

import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections


def advisory_xact_lock(name: str) -> None:
    """Serialise a critical section across processes until the current transaction ends.

    On PostgreSQL this takes ``pg_advisory_xact_lock`` on a key derived from ``name``; SQLite
    already serialises writers, so there it does nothing. Call it inside ``transaction.atomic``.
    """
    if connection.vendor != "postgresql":
        return
    key = zlib.crc32(name.encode()) & 0x7FFFFFFF
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


# --- reads from a streaming replica ------------------------------------------------------

REPLICA = "replica"
# Sessions, users, groups and tokens are read on the primary even inside a replica context:
# a user who just signed in, or a token just created, may not have reached the replica yet.
PRIMARY_ONLY_APPS = frozenset({"auth", "authtoken", "contenttypes", "sessions", "admin"})

_replica_reads: ContextVar[bool] = ContextVar("costtrack_replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def reads_from_replica() -> Iterator[None]:
    """Within this block, reads outside any transaction may go to the ``replica`` database.

    Writes never do, and neither does a read inside ``transaction.atomic`` (it must see the
    transaction's own writes and hold its locks). Without a ``replica`` database configured
    (``DATABASE_REPLICA_URL``) the block changes nothing.
    """
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def replica_reads_active() -> bool:
    return _replica_reads.get()


class ReplicaRouter:
    """Sends the reads of a ``reads_from_replica`` block to the replica, everything else to
    the primary (``default``), explicitly, so an object read from the replica is still saved
    on the primary."""

    def db_for_read(self, model, **hints) -> str:
        if (
            _replica_reads.get()
            and replica_configured()
            and model._meta.app_label not in PRIMARY_ONLY_APPS
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # the replica holds the primary's rows: objects of either may be related
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        return False if db == REPLICA else None


class ReplicaReadsMiddleware:
    """Serves ``GET``/``HEAD`` requests whose path matches ``COSTTRACK_REPLICA_PATHS`` (the
    report endpoints and dashboard pages) inside ``reads_from_replica``."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.paths = [re.compile(p) for p in getattr(settings, "COSTTRACK_REPLICA_PATHS", [])]

    def __call__(self, request):
        if request.method in ("GET", "HEAD") and any(p.match(request.path) for p in self.paths):
            with reads_from_replica():
                return self.get_response(request)
        return self.get_response(request)
