"""The "My costs" page: the member's own costs, who must decide them, and the decisions."""

from datetime import date

import pytest

from costs.models import Cost
from orgunits import services as org_services
from orgunits.models import Delegation
from tests.costs.factories import clone_costs, make_cost

pytestmark = pytest.mark.django_db

MINE = "/costs/mine/"


def _client(client, user):
    client.force_login(user)
    return client


def _row(html: str, cost) -> str:
    return html.split(f'id="cost-{cost.pk}"')[1].split("</tr>")[0]


def test_lists_my_costs_with_deciders_and_decisions(client, org):
    pending = make_cost(submitted_by=org.member, resource=org.resource, description="Pending one")
    rejected = make_cost(
        status=Cost.Status.REJECTED,
        submitted_by=org.member,
        resource=org.resource,
        decider=org.res_owner,
    )
    draft = make_cost(status=Cost.Status.DRAFT, submitted_by=org.member, resource=org.resource)
    on_unit = make_cost(submitted_by=org.member, organization_unit=org.platform)
    someone_elses = make_cost(submitted_by=org.sales_member, organization_unit=org.sales)
    html = _client(client, org.member).get(MINE).content.decode()
    # pending on the resource: its owner first, then the approver member of eng
    deciders = _row(html, pending).split(f'id="deciders-{pending.pk}">')[1].split("</td>")[0]
    assert deciders.index(org.res_owner.get_full_name()) < deciders.index(
        org.eng_approver.get_full_name()
    )
    assert "Pending one" in _row(html, pending)
    assert f'href="/costs/{pending.pk}/"' in html and f'href="/costs/{pending.pk}/edit/"' in html
    decision = _row(html, rejected)
    assert "Rejected by" in decision and org.res_owner.get_full_name() in decision
    assert "“no”" in decision  # the factory's rejection comment
    assert f'href="/costs/{rejected.pk}/edit/"' not in html
    assert "not submitted" in _row(html, draft)
    # on the unit: the owner of eng approves (platform has none), the approver member too
    assert org.eng_owner.get_full_name() in _row(html, on_unit)
    assert f'id="cost-{someone_elses.pk}"' not in html


def test_a_cost_finance_decides_says_finance(client, org):
    unit = org.root
    org_services.membership_set(user=org.ceo, unit=unit, role="member")
    cost = make_cost(submitted_by=org.ceo, organization_unit=unit)  # ceo owns root: finance
    html = _client(client, org.ceo).get(MINE).content.decode()
    assert "Finance" in html.split(f'id="deciders-{cost.pk}">')[1].split("</td>")[0]


def test_an_active_delegate_is_named(client, org):
    Delegation.objects.create(
        delegator=org.res_owner,
        delegate=org.delegate,
        start_date=date(2020, 1, 1),
        end_date=date(2099, 1, 1),
    )
    cost = make_cost(submitted_by=org.member, resource=org.resource)
    html = _client(client, org.member).get(MINE).content.decode()
    assert org.delegate.get_full_name() in _row(html, cost)


def test_filters_by_status_and_date(client, org):
    march = make_cost(submitted_by=org.member, resource=org.resource, incurred_on=date(2025, 3, 2))
    april = make_cost(
        status=Cost.Status.APPROVED,
        submitted_by=org.member,
        resource=org.resource,
        incurred_on=date(2025, 4, 2),
    )
    _client(client, org.member)
    html = client.get(MINE, {"status": "approved"}).content.decode()
    assert f'id="cost-{april.pk}"' in html and f'id="cost-{march.pk}"' not in html
    html = client.get(
        MINE, {"incurred_after": "2025-03-01", "incurred_before": "2025-03-31"}
    ).content.decode()
    assert f'id="cost-{march.pk}"' in html and f'id="cost-{april.pk}"' not in html
    response = client.get(MINE, {"incurred_after": "2025-04-01", "incurred_before": "2025-03-01"})
    assert "The end is before the start." in response.content.decode()
    assert f'id="cost-{march.pk}"' not in response.content.decode()


def test_paginated_with_bounded_queries(client, org, django_assert_max_num_queries):
    first = make_cost(submitted_by=org.member, resource=org.resource)
    clone_costs(first, 59)
    _client(client, org.member)
    with django_assert_max_num_queries(12):
        response = client.get(MINE)
    html = response.content.decode()
    assert html.count('<tr id="cost-') == 50
    assert "60 costs." in html and "page=2" in html
    with django_assert_max_num_queries(12):
        html = client.get(MINE, {"page": 2}).content.decode()
    assert html.count('<tr id="cost-') == 10


def test_needs_a_login(client, org):
    response = client.get(MINE)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_output_is_escaped(client, org):
    make_cost(
        status=Cost.Status.REJECTED,
        submitted_by=org.member,
        resource=org.resource,
        description="<script>alert(1)</script>",
    )
    html = _client(client, org.member).get(MINE).content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html
