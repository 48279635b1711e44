"""Running this package's SQL on the import's connection (inside its transaction)."""

from typing import Any

from django.db import connection


def execute(sql: str, params: Any = None) -> int:
    """Run one statement; return the number of rows it touched."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def fetch(sql: str, params: Any = None) -> list[tuple]:
    """Run one query; return all its rows."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
