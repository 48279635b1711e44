"""A closed period, and a closing one, refuse every change to their costs (services, API
409, admin); corrections go into an open period."""

from datetime import date
from decimal import Decimal

import pytest

from costs import services
from costs.models import Cost
from costs.period_models import AccountingPeriod
from costs.periods import period_close, period_create
from costtrack.core.exceptions import Conflict
from tests.costs.factories import make_cost

MARCH_DAY = date(2025, 3, 15)


@pytest.fixture
def closed_march(org):
    approved = make_cost(
        status=Cost.Status.APPROVED, submitted_by=org.member, organization_unit=org.platform
    )
    pending = make_cost(submitted_by=org.member, organization_unit=org.platform)
    draft = make_cost(
        status=Cost.Status.DRAFT, submitted_by=org.member, organization_unit=org.platform
    )
    period_close(period=period_create(label="2025-03"), allow_pending=True)
    return {"approved": approved, "pending": pending, "draft": draft}


@pytest.mark.parametrize(
    "change",
    [
        lambda c, org: services.cost_update(
            cost=c["pending"], acting_user=org.member, amount=Decimal("1.00")
        ),
        lambda c, org: services.cost_approve(cost=c["pending"], acting_user=org.fin),
        lambda c, org: services.cost_reject(cost=c["pending"], acting_user=org.fin),
        lambda c, org: services.cost_cancel(cost=c["pending"], acting_user=org.member),
        lambda c, org: services.cost_submit(cost=c["draft"], acting_user=org.member),
        lambda c, org: services.cost_void(cost=c["approved"], acting_user=org.fin, reason="x"),
        lambda c, org: services.cost_create(
            submitted_by=org.member,
            amount=Decimal("5.00"),
            currency="USD",
            incurred_on=MARCH_DAY,
            organization_unit=org.platform,
        ),
    ],
    ids=["edit", "approve", "reject", "cancel", "submit", "void", "create"],
)
def test_services_refuse_changes_in_a_closed_period(org, closed_march, change):
    before = sorted(Cost.objects.values_list("id", "status", "amount"))

    with pytest.raises(Conflict) as exc:
        change(closed_march, org)

    assert exc.value.code == "period_closed"
    assert exc.value.message.startswith("The period 2025-03 is closed")
    assert sorted(Cost.objects.values_list("id", "status", "amount")) == before


def test_moving_an_open_cost_into_a_closed_period_is_refused(org, closed_march):
    april = make_cost(
        submitted_by=org.member, organization_unit=org.platform, incurred_on=date(2025, 4, 2)
    )
    with pytest.raises(Conflict, match="2025-03 is closed"):
        services.cost_update(cost=april, acting_user=org.member, incurred_on=MARCH_DAY)


def test_api_answers_409_and_a_correction_goes_into_an_open_period(org, closed_march, client_for):
    pending = closed_march["pending"]
    fin = client_for(org.fin)

    edit = client_for(org.member).patch(
        f"/api/v1/costs/{pending.pk}/", {"amount": "1.00"}, format="json"
    )
    approve = fin.post(f"/api/v1/costs/{pending.pk}/approve/", {}, format="json")
    create = client_for(org.member).post(
        "/api/v1/costs/",
        {
            "amount": "5.00",
            "currency": "USD",
            "incurred_on": "2025-03-20",
            "organization_unit": org.platform.pk,
        },
        format="json",
    )
    credit = client_for(org.member).post(
        "/api/v1/costs/",
        {
            "amount": "-20.00",
            "currency": "USD",
            "incurred_on": "2025-04-01",
            "organization_unit": org.platform.pk,
            "description": "correction of March",
        },
        format="json",
    )

    for response in (edit, approve, create):
        assert response.status_code == 409, response.content
        assert "The period 2025-03 is closed" in response.json()["detail"]
    assert credit.status_code == 201, credit.content
    assert credit.json()["kind"] == "credit"
    assert Cost.objects.get(pk=pending.pk).amount == Decimal("100.00")
    assert Cost.objects.get(pk=pending.pk).status == Cost.Status.PENDING


def test_admin_transition_shows_the_refusal(org, closed_march, client):
    org.fin.is_staff = True
    org.fin.is_superuser = True
    org.fin.save()
    client.force_login(org.fin)
    pending = closed_march["pending"]

    response = client.post(
        f"/admin/costs/cost/{pending.pk}/transition/approve/", {"comment": ""}, follow=True
    )

    assert "The period 2025-03 is closed" in response.content.decode()
    assert Cost.objects.get(pk=pending.pk).status == Cost.Status.PENDING


@pytest.fixture
def closing_march(org, monkeypatch):
    """March is ``closing``: its close began, and a close step failed before the freeze."""
    from costs import extensions

    approved = make_cost(
        status=Cost.Status.APPROVED, submitted_by=org.member, organization_unit=org.platform
    )
    pending = make_cost(submitted_by=org.member, organization_unit=org.platform)
    draft = make_cost(
        status=Cost.Status.DRAFT, submitted_by=org.member, organization_unit=org.platform
    )

    def stuck(*, period, acting_user):
        raise Conflict("The allocation of the period 2025-03 failed: cycle", code="x")

    monkeypatch.setitem(extensions._period_close_steps, "stuck", stuck)
    period = period_create(label="2025-03")
    with pytest.raises(Conflict, match="failed: cycle"):
        period_close(period=period, allow_pending=True)
    period.refresh_from_db()
    assert period.status == AccountingPeriod.Status.CLOSING
    return {"approved": approved, "pending": pending, "draft": draft, "period": period}


@pytest.mark.parametrize(
    "change",
    [
        lambda c, org: services.cost_update(
            cost=c["pending"], acting_user=org.member, amount=Decimal("1.00")
        ),
        lambda c, org: services.cost_approve(cost=c["pending"], acting_user=org.fin),
        lambda c, org: services.cost_reject(cost=c["pending"], acting_user=org.fin),
        lambda c, org: services.cost_cancel(cost=c["pending"], acting_user=org.member),
        lambda c, org: services.cost_submit(cost=c["draft"], acting_user=org.member),
        lambda c, org: services.cost_void(cost=c["approved"], acting_user=org.fin, reason="x"),
        lambda c, org: services.cost_create(
            submitted_by=org.member,
            amount=Decimal("5.00"),
            currency="USD",
            incurred_on=MARCH_DAY,
            organization_unit=org.platform,
        ),
    ],
    ids=["edit", "approve", "reject", "cancel", "submit", "void", "create"],
)
def test_services_refuse_changes_in_a_closing_period(org, closing_march, change):
    before = sorted(Cost.objects.values_list("id", "status", "amount"))

    with pytest.raises(Conflict) as exc:
        change(closing_march, org)

    assert exc.value.code == "period_closing"
    assert exc.value.message.startswith("The period 2025-03 is closing")
    assert sorted(Cost.objects.values_list("id", "status", "amount")) == before


def test_api_answers_409_while_the_period_closes(org, closing_march, client_for):
    pending = closing_march["pending"]

    edit = client_for(org.member).patch(
        f"/api/v1/costs/{pending.pk}/", {"amount": "1.00"}, format="json"
    )
    approve = client_for(org.fin).post(f"/api/v1/costs/{pending.pk}/approve/", {}, format="json")
    submit = client_for(org.member).post(
        f"/api/v1/costs/{closing_march['draft'].pk}/submit/", {}, format="json"
    )

    for response in (edit, approve, submit):
        assert response.status_code == 409, response.content
        assert "The period 2025-03 is closing" in response.json()["detail"]
    assert Cost.objects.get(pk=pending.pk).amount == Decimal("100.00")
    assert Cost.objects.get(pk=pending.pk).status == Cost.Status.PENDING
    assert Cost.objects.get(pk=closing_march["draft"].pk).status == Cost.Status.DRAFT


def test_generation_outside_the_close_skips_a_closing_period(org, closing_march):
    from costs.recurring import recurring_costs_generate

    from .factories import recurring

    recurring(
        acting_user=org.fin,
        organization_unit=org.platform,
        currency="USD",
        start_date=date(2025, 3, 10),
    )

    result = recurring_costs_generate(until=date(2025, 4, 30))

    assert (result.created, result.skipped_closed, result.errors) == (1, 1, [])
    assert list(Cost.objects.filter(source="recurring").values_list("incurred_on", flat=True)) == [
        date(2025, 4, 10)
    ]


def test_calculate_of_a_closing_period_generates_nothing(org, closing_march):
    from costs.periods import period_calculate

    from .factories import recurring

    recurring(
        acting_user=org.fin,
        organization_unit=org.platform,
        currency="USD",
        start_date=date(2025, 3, 10),
    )

    calc = period_calculate(period=closing_march["period"], acting_user=org.fin)

    assert (calc.generated, calc.errors) == (0, [])
    assert calc.totals["by_status"]["pending"]["count"] == 1
    assert not Cost.objects.filter(source="recurring").exists()


# --- pages: the refusal is shown and nothing changes ----------------------------------


@pytest.fixture(params=["closed", "closing"])
def frozen_march(request, org):
    """March closed, or stuck closing; the fixture's costs plus the refusal's first words."""
    costs = request.getfixturevalue(f"{request.param}_march")
    return {**costs, "refusal": f"The period 2025-03 is {request.param}"}


def _snapshot():
    from costs.models import CostEvent

    return (
        sorted(Cost.objects.values_list("id", "status", "amount", "description")),
        CostEvent.objects.count(),
    )


def _page_messages(response) -> list[str]:
    from django.contrib.messages import get_messages

    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    ("cost_key", "action", "who", "data"),
    [
        ("pending", "approve", "fin", {"comment": "ok"}),
        ("pending", "reject", "fin", {"comment": "no"}),
        ("pending", "cancel", "member", {}),
        ("draft", "submit", "member", {}),
        ("approved", "void", "fin", {"reason": "duplicate"}),
    ],
)
def test_cost_page_actions_show_the_refusal_and_change_nothing(
    org, frozen_march, client, cost_key, action, who, data
):
    cost = frozen_march[cost_key]
    client.force_login(getattr(org, who))
    before = _snapshot()

    response = client.post(f"/costs/{cost.pk}/{action}/", data)

    assert response.status_code == 302
    assert response["Location"] == f"/costs/{cost.pk}/"
    shown = _page_messages(response)
    assert len(shown) == 1
    assert shown[0].startswith(f"Cost #{cost.pk} was not ")
    assert frozen_march["refusal"] in shown[0]
    assert _snapshot() == before


def test_inbox_decide_shows_the_refusal_and_changes_nothing(org, frozen_march, client):
    pending = frozen_march["pending"]
    client.force_login(org.fin)
    before = _snapshot()

    response = client.post(
        f"/approvals/{pending.pk}/decide/", {"decision": "approve", "comment": "fine"}
    )
    followed = client.get(response["Location"])

    assert response.status_code == 302
    assert f"Cost #{pending.pk}: {frozen_march['refusal']}" in followed.content.decode()
    assert _snapshot() == before


def test_bulk_decide_reports_each_refusal_and_changes_nothing(org, frozen_march, client):
    pending, approved = frozen_march["pending"], frozen_march["approved"]
    client.force_login(org.fin)
    before = _snapshot()
    ids = [pending.pk, approved.pk]

    response = client.post(
        "/approvals/bulk/", {"decision": "reject", "comment": "no", "costs": [str(i) for i in ids]}
    )

    assert response.status_code == 302
    shown = _page_messages(response)
    assert len(shown) == 1
    assert shown[0].startswith("2 cost(s) could not be rejected:")
    assert f"#{pending.pk}: {frozen_march['refusal']}" in shown[0]
    assert f"#{approved.pk}: {frozen_march['refusal']}" in shown[0]
    assert _snapshot() == before


def test_admin_change_form_refuses_editing_a_cost_of_a_frozen_period(org, frozen_march, client):
    org.fin.is_staff = True
    org.fin.is_superuser = True
    org.fin.save()
    client.force_login(org.fin)
    pending = frozen_march["pending"]
    before = _snapshot()
    form = {
        "amount": "1.00",
        "currency": "USD",
        "incurred_on": "2025-03-15",
        "period_start": "",
        "period_end": "",
        "category": str(pending.category_id),
        "description": "edited in the admin",
        "resource": "",
        "entity": "",
        "organization_unit": str(org.platform.pk),
        "url": "",
        "metadata": "{}",
        "tags": "{}",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
    }

    response = client.post(f"/admin/costs/cost/{pending.pk}/change/", form)

    assert response.status_code == 200  # the form again, with the refusal
    assert frozen_march["refusal"] in response.content.decode()
    assert _snapshot() == before
    april = make_cost(
        submitted_by=org.member, organization_unit=org.platform, incurred_on=date(2025, 4, 2)
    )
    before = _snapshot()
    moved = client.post(
        f"/admin/costs/cost/{april.pk}/change/",
        {
            **form,
            "amount": "100.00",
            "category": str(april.category_id),
            "incurred_on": "2025-03-20",
        },
    )
    assert moved.status_code == 200
    assert frozen_march["refusal"] in moved.content.decode()
    assert _snapshot() == before
    assert Cost.objects.get(pk=april.pk).incurred_on == date(2025, 4, 2)
