"""Test settings: the suite runs against real PostgreSQL and Redis.

DATABASE_URL and REDIS_URL default to the local servers. There is no fallback to SQLite:
``tests/conftest.py`` stops the run with a clear message when PostgreSQL is unreachable.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/costtrack")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

from .base import *  # noqa: E402,F403
from .base import env  # noqa: E402

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast hashing for tests
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Unit tests run tasks in-process; integration tests start real workers against REDIS_URL.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = env.str("REDIS_URL")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Other apps' tests count notifications and queries of imports and runs: the recompute after
# them is tested in tests/recommendations, which turns it on.
COSTTRACK_RECOMMENDATIONS_AUTO = False
