"""The relay: a long-running dispatcher (``costtrack jobs relay``, started by ``make worker``).

It waits on PostgreSQL ``LISTEN`` for the commit of a write that recorded jobs (or for
``poll`` seconds), hands every due job to the broker in bulk, and reaps expired leases
every ``reap_every`` seconds. Several relays may run: rows are shared with ``SKIP LOCKED``.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable

from django.db import close_old_connections, connection

from .dispatch import jobs_dispatch, jobs_reap
from .outbox import WAKE_CHANNEL
from .settings import batch_size

logger = logging.getLogger(__name__)


class _Listener:
    """A connection of its own that LISTENs for the wake-up hint (PostgreSQL only)."""

    def __init__(self):
        self.conn = None

    def open(self) -> None:
        if connection.vendor != "postgresql" or self.conn is not None:
            return
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self.conn = psycopg.connect(**params, autocommit=True)
        self.conn.execute(f"LISTEN {WAKE_CHANNEL}")

    def wait(self, timeout: float) -> None:
        if self.conn is None:
            time.sleep(timeout)
            return
        try:
            ready, _, _ = select.select([self.conn.fileno()], [], [], timeout)
            if ready:
                # drain what arrived: one round dispatches everything anyway
                for _ in self.conn.notifies(timeout=0):
                    pass
        except Exception:
            logger.warning("The relay's LISTEN connection failed; reconnecting", exc_info=True)
            self.close()
            time.sleep(timeout)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None


def relay_round() -> int:
    """Dispatch until no due job is left (or a round sent less than a full batch)."""
    total = 0
    while True:
        sent = jobs_dispatch()
        total += sent
        if sent < batch_size():
            return total


def relay(
    *, poll: float = 1.0, reap_every: float = 15.0, stop: Callable[[], bool] = lambda: False
) -> None:
    """Run until ``stop()`` is true. Database or broker errors are logged and the loop goes
    on: a relay outlives outages of either. Its database connection is kept between rounds
    (a round every ``poll`` seconds at most) and replaced after an error."""
    listener = _Listener()
    next_reap = 0.0
    try:
        while not stop():
            try:
                listener.open()
                if time.monotonic() >= next_reap:
                    jobs_reap()
                    next_reap = time.monotonic() + reap_every
                relay_round()
            except Exception:
                logger.exception("Relay round failed; trying again in %.1fs", poll)
                close_old_connections()
                connection.close()  # the database may have gone: reconnect next round
                listener.close()
            listener.wait(poll)
    finally:
        listener.close()
