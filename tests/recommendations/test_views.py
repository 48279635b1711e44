"""The /recommendations/ page: scoped list by kind, dismiss form (CSRF, reason, rights),
bounded queries."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from recommendations.models import Recommendation
from recommendations.services import recommendations_compute
from tests.allocation.factories import approved_cost
from tests.orgunits.factories import ResourceFactory

from .conftest import DAY, NOW

pytestmark = pytest.mark.django_db
PAGE = "/recommendations/"


def _idle(unit, name, amount):
    res = ResourceFactory(name=name, provider_resource_id=f"arn:{name}", organization_unit=unit)
    approved_cost(amount, resource=res, incurred_on=DAY)
    return res


@pytest.fixture
def recs(org):
    _idle(org.platform, "eng-<b>vm</b>", "100.00")
    _idle(org.sales, "sales-vm", "40.00")
    recommendations_compute(now=NOW, notify=False)
    return {
        r.organization_unit.code: r
        for r in Recommendation.objects.select_related("organization_unit")
    }


def test_login_required(client):
    assert client.get(PAGE).status_code == 302


def test_the_page_lists_my_units_recommendations_by_kind_escaped(client, org, recs):
    client.force_login(org.eng_owner)
    response = client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Idle or orphaned resource" in html
    assert f'id="recommendation-{recs["platform"].pk}"' in html
    assert f'id="recommendation-{recs["sales"].pk}"' not in html
    assert "eng-&lt;b&gt;vm&lt;/b&gt;" in html and "<b>vm</b>" not in html
    assert "100.00 USD" in html
    assert f'href="{recs["platform"].link}"' in html
    assert 'name="csrfmiddlewaretoken"' in html and 'name="reason"' in html
    assert 'id="nav-recommendations"' in html


def test_dismiss_form_needs_csrf_a_reason_and_the_right(org, recs):
    platform, sales = recs["platform"], recs["sales"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(org.eng_owner)
    assert strict.post(f"{PAGE}{platform.pk}/dismiss/", {"reason": "x"}).status_code == 403
    client = Client()
    client.force_login(org.eng_owner)
    assert client.post(f"{PAGE}{sales.pk}/dismiss/", {"reason": "x"}).status_code == 404
    response = client.post(f"{PAGE}{platform.pk}/dismiss/", {"reason": ""}, follow=True)
    assert "Say why" in response.content.decode()
    platform.refresh_from_db()
    assert platform.status == "open"
    member = Client()
    member.force_login(org.member)
    assert member.post(f"{PAGE}{platform.pk}/dismiss/", {"reason": "x"}).status_code == 403
    response = client.post(f"{PAGE}{platform.pk}/dismiss/", {"reason": "Standby"})
    assert response.status_code == 302
    platform.refresh_from_db()
    assert platform.status == "dismissed"
    assert f'id="recommendation-{platform.pk}"' not in client.get(PAGE).content.decode()
    assert (
        f'id="recommendation-{platform.pk}"'
        in client.get(PAGE, {"status": "dismissed"}).content.decode()
    )


def test_the_page_runs_a_bounded_number_of_queries(client, org):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(PAGE).status_code == 200
        return len(ctx)

    client.force_login(org.eng_owner)
    _idle(org.platform, "vm-0", "10.00")
    recommendations_compute(now=NOW, notify=False)
    few = count()
    for i in range(1, 25):
        _idle(org.platform, f"vm-{i}", Decimal(10 + i))
    recommendations_compute(now=NOW, notify=False)
    assert count() == few
