"""Imported by a test worker (``celery worker --include tests.integration.slow_jobs``): the
first allocation computed while COSTTRACK_SLOW_MARKER names a missing file writes that file
(with its process id) and sleeps COSTTRACK_SLOW_SECONDS, so a test can kill the worker in
the middle of a run or of a period close. Later computations (the marker exists) are not
slowed: the job run again after the kill finishes at once."""

import os
import time
from pathlib import Path

from allocation import engine

_allocate = engine.allocate


def _slow_allocate(*args, **kwargs):
    marker = os.environ.get("COSTTRACK_SLOW_MARKER")
    if marker and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        time.sleep(float(os.environ.get("COSTTRACK_SLOW_SECONDS", "60")))
    return _allocate(*args, **kwargs)


engine.allocate = _slow_allocate
