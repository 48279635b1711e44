"""A closed period refuses every change to its costs (services, API 409, admin);
corrections go into an open period."""

from datetime import date
from decimal import Decimal

import pytest

from costs import services
from costs.models import Cost
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
