"""Recomputation after each billing import and allocation run (a keyed job recorded in
their transaction, run on the workers: in-process here, as tasks run eagerly), and the
task itself."""

from datetime import date
from decimal import Decimal

import pytest
from django.test import override_settings

from allocation import services as allocation_services
from allocation.models import CostNode
from costs.imports import services as import_services
from costtrack.core.models import Job
from recommendations import tasks
from recommendations.models import Recommendation
from tests.allocation.factories import approved_cost, edge
from tests.orgunits.factories import ResourceFactory

from .test_compute import _focus

pytestmark = pytest.mark.django_db
TASK = "recommendations.compute"


def _graph(org):
    vpn = ResourceFactory(
        name="vpn", provider_resource_id="arn:vpn", organization_unit=org.platform
    )
    approved_cost("1000.00", resource=vpn, incurred_on=date(2025, 3, 10))
    shared = CostNode.objects.create(name="vpn", kind="shared_service", resource=vpn)
    edge(
        shared,
        CostNode.objects.create(name="shop", kind="product"),
        "fixed_percent",
        {"percent": "50"},
    )


@override_settings(COSTTRACK_RECOMMENDATIONS_AUTO=True)
def test_an_allocation_run_queues_a_recomputation_that_runs_after_commit(
    org, django_capture_on_commit_callbacks
):
    _graph(org)
    with django_capture_on_commit_callbacks(execute=True):
        run = allocation_services.allocation_run(
            period_start=date(2025, 3, 1), period_end=date(2025, 3, 31)
        )
    assert run.status == "succeeded"
    assert Job.objects.filter(task=TASK).count() == 1
    rec = Recommendation.objects.get(kind="unallocated_cost")
    assert rec.amount == Decimal("500.00")


@override_settings(COSTTRACK_RECOMMENDATIONS_AUTO=True)
def test_a_billing_import_queues_a_recomputation(org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        batch = import_services.import_file(
            source=_focus("444", [("10.00", "{}")]),
            file_name="444.csv",
            acting_user=org.fin,
            unit=org.platform,
            override_reason="test",
        )
    assert batch.status == "succeeded"
    assert Job.objects.filter(task=TASK).count() == 1


def test_without_the_setting_nothing_is_queued(org):
    _graph(org)
    allocation_services.allocation_run(period_start=date(2025, 3, 1), period_end=date(2025, 3, 31))
    assert not Job.objects.filter(task=TASK).exists()


def test_the_task_computes_and_reports_counts(org):
    _graph(org)
    allocation_services.allocation_run(period_start=date(2025, 3, 1), period_end=date(2025, 3, 31))
    result = tasks.compute()
    assert result["found"]["unallocated_cost"] == 1
    assert tasks.compute.name == TASK and tasks.compute.max_retries == 5


def test_the_command_computes_now_or_queues(org, capsys):
    import json

    from django.core.management import call_command

    _graph(org)
    allocation_services.allocation_run(period_start=date(2025, 3, 1), period_end=date(2025, 3, 31))
    call_command("recommendations", "compute", "--no-notify")
    printed = json.loads(capsys.readouterr().out)
    assert printed["found"]["unallocated_cost"] == 1 and printed["created"] >= 1
    call_command("recommendations", "compute", "--queue")
    assert "Queued job" in capsys.readouterr().out
    assert Job.objects.filter(task=TASK).count() == 1
