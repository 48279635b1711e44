"""Server-side prepared statements for the few hot statements of every cost submission.

PostgreSQL plans a statement each time it is sent; for the short statements that run inside
every submission (a cost's spend-summary change, the budget spend aggregate) planning costs
more than running them. ``execute_prepared`` prepares such a statement once per database
session (``PREPARE``, named after a hash of its text) and then only runs it (``EXECUTE``).

``COSTTRACK_SUMMARY_PREPARED = False`` turns this off: a pooler in transaction mode
(PgBouncer) shares sessions between clients, so a statement prepared on one may be missing
on the next. Each session keeps at most ``MAX_PREPARED`` statements (``DEALLOCATE ALL``
past it), so budgets of many shapes cannot grow a session's memory without bound.
"""

import hashlib
import re
import weakref

from django.conf import settings
from django.db import connection

MAX_PREPARED = 256
_PLACEHOLDER = re.compile(r"%s|%%")
# the statements prepared on each PostgreSQL session (keyed by the driver's connection)
_PREPARED: "weakref.WeakKeyDictionary[object, set[str]]" = weakref.WeakKeyDictionary()


def prepared_statements_enabled() -> bool:
    return connection.vendor == "postgresql" and getattr(
        settings, "COSTTRACK_SUMMARY_PREPARED", True
    )


def numbered(sql: str) -> str:
    """``sql`` with its ``%s`` as ``$1, $2 …`` and ``%%`` as ``%``."""
    counter = iter(range(1, 100_000))
    return _PLACEHOLDER.sub(lambda m: f"${next(counter)}" if m.group() == "%s" else "%", sql)


def execute_prepared(cursor, text: str, params: list, *, kind: str) -> None:
    """Run ``text`` (placeholders already ``$n``) with ``params`` as a statement prepared on
    this session, named ``costtrack_<kind>_<hash of the text>``. Parameter types come from
    the statement's context, so every placeholder must sit where PostgreSQL can tell its
    type (a comparison with a column, a ``CAST``)."""
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
    name = f"costtrack_{kind}_{digest}"
    prepared = _PREPARED.setdefault(connection.connection, set())
    if name not in prepared:
        if len(prepared) >= MAX_PREPARED:
            cursor.execute("DEALLOCATE ALL")
            prepared.clear()
        cursor.execute(f"PREPARE {name} AS {text}")
        prepared.add(name)
    cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params)
