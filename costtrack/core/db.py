"""Database helpers shared by the apps."""

import zlib

from django.db import connection


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
