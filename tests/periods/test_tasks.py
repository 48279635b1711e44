"""Celery tasks and the beat entries that run them."""

from datetime import date
from unittest import mock

from django.test import override_settings

from costs import tasks
from costs.models import Cost
from costs.period_models import AccountingPeriod
from costtrack.beat import BEAT_SCHEDULE
from costtrack.celery import app

from .factories import recurring


def test_beat_entries_name_registered_tasks():
    names = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert {"costs.generate_recurring_costs", "costs.close_previous_period"} <= names
    app.loader.import_default_modules()
    for name in ("costs.generate_recurring_costs", "costs.close_previous_period"):
        assert name in app.tasks
    assert "costs.close_period" in app.tasks


def test_generate_task_books_what_is_due(org):
    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")

    first = tasks.generate_recurring_costs.delay("2025-03-31").get()
    second = tasks.generate_recurring_costs.delay("2025-03-31").get()

    assert (first["created"], second["created"], second["existing"]) == (3, 0, 3)
    assert Cost.objects.count() == 3


def test_close_previous_period_task_uses_the_close_day_setting(org):
    with (
        override_settings(COSTS_PERIOD_CLOSE_DAY=5),
        mock.patch("django.utils.timezone.localdate", return_value=date(2025, 4, 4)),
    ):
        assert tasks.close_previous_period.delay().get() == {}
    with (
        override_settings(COSTS_PERIOD_CLOSE_DAY=5),
        mock.patch("django.utils.timezone.localdate", return_value=date(2025, 4, 5)),
    ):
        result = tasks.close_previous_period.delay().get()

    assert result == {"period": "2025-03", "status": "closed"}
    assert AccountingPeriod.objects.get().status == "closed"


def test_a_refused_close_is_not_retried(org):
    import pytest

    from costs.periods import period_create
    from costtrack.core.exceptions import Conflict

    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    period = period_create(label="2025-03")

    with pytest.raises(Conflict, match="still has 1 pending cost"):
        tasks.close_period.apply(args=[period.pk], throw=True)
    assert AccountingPeriod.objects.get().status == "open"
