"""The admin shows recommendations and their audit events read-only."""

import pytest

from recommendations.models import Recommendation
from recommendations.services import recommendation_dismiss, recommendations_compute
from tests.allocation.factories import approved_cost
from tests.orgunits.factories import ResourceFactory

from .conftest import DAY, NOW

pytestmark = pytest.mark.django_db


def test_changelist_and_detail_are_read_only(admin_client, org, django_assert_max_num_queries):
    for i in range(5):
        res = ResourceFactory(
            name=f"vm-{i}", provider_resource_id=f"arn:{i}", organization_unit=org.platform
        )
        approved_cost("10.00", resource=res, incurred_on=DAY)
    recommendations_compute(now=NOW, notify=False)
    rec = Recommendation.objects.first()
    recommendation_dismiss(recommendation=rec, reason="Known", acting_user=org.fin)
    with django_assert_max_num_queries(12):
        response = admin_client.get("/admin/recommendations/recommendation/")
    assert response.status_code == 200 and "vm-0" in response.content.decode()
    detail = admin_client.get(f"/admin/recommendations/recommendation/{rec.pk}/change/")
    assert detail.status_code == 200 and "Known" in detail.content.decode()
    assert admin_client.get("/admin/recommendations/recommendation/add/").status_code == 403
