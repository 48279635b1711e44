"""Admin for recurring items and periods: writes through the services, refusals as errors."""

from datetime import date

import pytest
from django.utils import timezone

from costs.period_models import AccountingPeriod, RecurringCost
from costs.periods import label_for, period_create
from costs.recurring import recurring_costs_generate
from costtrack.core.models import Job

from .factories import recurring


@pytest.fixture
def fin_admin(org, client):
    org.fin.is_staff = True
    org.fin.is_superuser = True
    org.fin.save()
    client.force_login(org.fin)
    return client


def _form(org, **overrides):
    data = {
        "name": "Bubble.io plan",
        "amount": "32.00",
        "currency": "EUR",
        "cadence": "monthly",
        "start_date": "2025-01-01",
        "end_date": "",
        "category": "",
        "resource": "",
        "entity": "",
        "organization_unit": str(org.platform.pk),
        "description": "",
        "tags": "{}",
        "active": "on",
        "occurrences-TOTAL_FORMS": "0",
        "occurrences-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_admin_adds_a_recurring_cost_through_the_service(org, fin_admin):
    response = fin_admin.post("/admin/costs/recurringcost/add/", _form(org))

    assert response.status_code == 302, response.content.decode()[:2000]
    item = RecurringCost.objects.get()
    assert (item.name, item.created_by, item.category.slug) == ("Bubble.io plan", org.fin, "other")


def test_admin_shows_the_services_refusal(org, fin_admin):
    response = fin_admin.post("/admin/costs/recurringcost/add/", _form(org, end_date="2024-01-01"))

    assert response.status_code == 200
    assert "The end date cannot be before the start date." in response.content.decode()
    assert not RecurringCost.objects.exists()


def test_admin_change_page_lists_occurrences(org, fin_admin):
    item = recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    recurring_costs_generate(until=item.start_date)

    page = fin_admin.get(f"/admin/costs/recurringcost/{item.pk}/change/")

    assert page.status_code == 200
    assert "Jan. 1, 2025" in page.content.decode() or "2025-01-01" in page.content.decode()


def test_admin_creates_periods_and_reports_what_holds_a_close_back(
    org, fin_admin, django_capture_on_commit_callbacks
):
    added = fin_admin.post("/admin/costs/accountingperiod/add/", {"label": "2025-03"})
    bad = fin_admin.post("/admin/costs/accountingperiod/add/", {"label": "March"})
    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    recurring_costs_generate(until=date(2025, 4, 30))
    april = period_create(label="2025-04")
    march = AccountingPeriod.objects.get(label="2025-03")

    with django_capture_on_commit_callbacks() as queued:
        closed = fin_admin.post(
            "/admin/costs/accountingperiod/",
            {"action": "close_periods", "_selected_action": [str(march.pk), str(april.pk)]},
            follow=True,
        )

    assert added.status_code == 302
    assert bad.status_code == 200 and "is not a period" in bad.content.decode()
    text = closed.content.decode()
    assert "The period 2025-03 still has 1 pending cost(s)" in text
    assert "The period 2025-04 still has 1 pending cost(s)" in text
    assert queued == []
    statuses = dict(AccountingPeriod.objects.values_list("label", "status"))
    assert statuses == {"2025-03": "open", "2025-04": "open"}


def test_admin_close_action_queues_the_close_task(
    org, fin_admin, django_capture_on_commit_callbacks
):
    period = period_create(label="2025-05")
    future = period_create(label=label_for(timezone.localdate()))
    action = {"action": "close_periods", "_selected_action": [str(period.pk), str(future.pk)]}

    with django_capture_on_commit_callbacks() as queued:
        response = fin_admin.post("/admin/costs/accountingperiod/", action, follow=True)

    text = response.content.decode()
    assert "2025-05: the close is queued" in text
    assert f"The period {future.label} has not ended yet" in text
    assert len(queued) == 1
    (job,) = Job.objects.all()
    assert (job.task, job.args, job.state) == (
        "costs.close_period",
        [period.pk, org.fin.pk, None],
        "pending",
    )
    assert AccountingPeriod.objects.get(pk=period.pk).status == "open"  # not closed inline

    with django_capture_on_commit_callbacks() as again_queued:  # the live job is kept
        fin_admin.post("/admin/costs/accountingperiod/", action, follow=True)
    assert (again_queued, Job.objects.count()) == ([], 1)
    queued[0]()  # after commit, the job runs (in-process: tasks run eagerly here)
    job.refresh_from_db()
    assert job.state == "done", job.last_error
    period.refresh_from_db()
    assert (period.status, period.closed_by) == ("closed", org.fin)
    assert AccountingPeriod.objects.get(pk=future.pk).status == "open"

    again = fin_admin.post(
        "/admin/costs/accountingperiod/",
        {"action": "close_periods", "_selected_action": [str(period.pk)]},
        follow=True,
    )
    assert "2025-05 is already closed." in again.content.decode()


def test_admin_close_action_refuses_staff_outside_finance(org, client):
    from django.contrib.auth.models import Permission

    org.member.is_staff = True
    org.member.save()
    codenames = ["view_accountingperiod", "change_accountingperiod"]
    org.member.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(org.member)
    period = period_create(label="2025-05")

    response = client.post(
        "/admin/costs/accountingperiod/",
        {"action": "close_periods", "_selected_action": [str(period.pk)]},
        follow=True,
    )

    assert "Only finance staff may manage accounting periods." in response.content.decode()
    assert AccountingPeriod.objects.get().status == "open"
