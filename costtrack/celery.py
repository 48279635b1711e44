"""The costtrack Celery application: Redis broker from REDIS_URL, JSON only."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "costtrack.settings.base")

app = Celery("costtrack")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
