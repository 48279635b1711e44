"""The recommendations API: scoping per unit, dismissal rights, the recompute endpoint, and
bounded queries on the list."""

from decimal import Decimal

import pytest

from costtrack.core.models import Job
from recommendations.models import Recommendation, RecommendationEvent
from recommendations.services import recommendations_compute
from tests.allocation.factories import approved_cost
from tests.orgunits.factories import ResourceFactory

from .conftest import DAY, NOW

pytestmark = pytest.mark.django_db
URL = "/api/v1/recommendations/"


@pytest.fixture
def recs(org):
    """An idle resource in platform (under eng) and one in sales."""
    for unit, name, amount in (
        (org.platform, "eng-vm", "100.00"),
        (org.sales, "sales-vm", "40.00"),
    ):
        res = ResourceFactory(name=name, provider_resource_id=f"arn:{name}", organization_unit=unit)
        approved_cost(amount, resource=res, incurred_on=DAY)
    recommendations_compute(now=NOW, notify=False)
    return {
        r.organization_unit.code: r
        for r in Recommendation.objects.select_related("organization_unit")
    }


def test_finance_sees_all_largest_first(client_for, org, recs):
    body = client_for(org.fin).get(URL).json()
    assert body["count"] == 2
    first = body["results"][0]
    assert (first["organization_unit_name"], first["amount"], first["currency"]) == (
        "Platform",
        "100.00",
        "USD",
    )
    assert first["kind"] == "idle_resource" and first["may_dismiss"] is True
    # neither the resource nor its unit has an owner
    assert first["evidence"]["reasons"] == ["not_in_allocation", "no_owner"]


@pytest.mark.parametrize(
    ("user", "codes"),
    [
        ("eng_owner", {"platform"}),
        ("member", {"platform"}),
        ("sales_member", {"sales"}),
        ("delegate", set()),
        ("aud", {"platform", "sales"}),
    ],
)
def test_each_user_sees_the_recommendations_of_their_units(client_for, org, recs, user, codes):
    body = client_for(getattr(org, user)).get(URL).json()
    assert {recs_code(recs, r["id"]) for r in body["results"]} == codes


def recs_code(recs, pk):
    return next(code for code, r in recs.items() if r.pk == pk)


def test_other_units_ids_are_404_and_dismissing_without_the_right_is_403(client_for, org, recs):
    sales = recs["sales"]
    member = client_for(org.member)
    assert member.get(f"{URL}{sales.pk}/").status_code == 404
    assert member.post(f"{URL}{sales.pk}/dismiss/", {"reason": "x"}).status_code == 404
    # the member sees platform's but may not manage the unit; the owner above it may
    platform = recs["platform"]
    assert member.get(f"{URL}{platform.pk}/").json()["may_dismiss"] is False
    assert member.post(f"{URL}{platform.pk}/dismiss/", {"reason": "x"}).status_code == 403
    assert (
        client_for(org.aud).post(f"{URL}{platform.pk}/dismiss/", {"reason": "x"}).status_code == 403
    )
    assert client_for(org.sales_owner).get(f"{URL}{platform.pk}/").status_code == 404
    assert RecommendationEvent.objects.count() == 0


def test_dismiss_with_a_reason(client_for, org, recs):
    platform = recs["platform"]
    client = client_for(org.eng_owner)
    missing = client.post(f"{URL}{platform.pk}/dismiss/", {"reason": "  "}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()
    response = client.post(f"{URL}{platform.pk}/dismiss/", {"reason": "Standby"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["dismissed_amount"]) == ("dismissed", "100.00")
    (event,) = body["events"]
    assert (event["action"], event["actor_username"], event["reason"], event["amount"]) == (
        "dismissed",
        "eng_owner",
        "Standby",
        "100.00",
    )
    again = client.post(f"{URL}{platform.pk}/dismiss/", {"reason": "again"}, format="json")
    assert again.status_code == 409
    assert client.get(URL, {"status": "open"}).json()["count"] == 0
    assert client.get(URL, {"status": "dismissed"}).json()["count"] == 1


def test_filters_are_validated(client_for, org, recs):
    client = client_for(org.fin)
    assert client.get(URL, {"kind": "idle_resource"}).json()["count"] == 2
    assert client.get(URL, {"kind": "spike"}).json()["count"] == 0
    assert client.get(URL, {"kind": "nonsense"}).status_code == 400
    assert client.get(URL, {"status": "nonsense"}).status_code == 400


def test_only_finance_queues_a_recomputation(client_for, org, recs):
    assert client_for(org.eng_owner).post(f"{URL}compute/").status_code == 403
    assert client_for(org.aud).post(f"{URL}compute/").status_code == 403
    response = client_for(org.fin).post(f"{URL}compute/")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job"])
    assert job.task == "recommendations.compute"


def test_anonymous_is_401(api_client, recs):
    assert api_client.get(URL).status_code == 401


def test_the_list_runs_a_bounded_number_of_queries(client_for, org, django_assert_max_num_queries):
    for i in range(30):
        res = ResourceFactory(
            name=f"vm-{i}", provider_resource_id=f"arn:vm-{i}", organization_unit=org.platform
        )
        approved_cost(Decimal(10 + i), resource=res, incurred_on=DAY)
    recommendations_compute(now=NOW, notify=False)
    for user in (org.fin, org.eng_owner):
        client = client_for(user)
        with django_assert_max_num_queries(6):
            body = client.get(URL).json()
        assert body["count"] == 30
