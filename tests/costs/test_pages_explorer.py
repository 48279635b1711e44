"""The cost explorer ``/costs/``: filters, grouped totals, the list and its CSV download."""

import re
from datetime import date
from decimal import Decimal

import pytest

from costs import reports, selectors
from costs.models import Cost
from tests.costs.factories import category, clone_costs, make_cost

pytestmark = pytest.mark.django_db

EXPLORER = "/costs/"


def _client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def spend(org, eur_rates):
    """Approved costs in March 2025 on platform (resource and unit) and sales, one pending."""
    return {
        "db": make_cost(
            status=Cost.Status.APPROVED,
            submitted_by=org.member,
            resource=org.resource,
            amount="100.00",
            tags={"team": "data"},
            category=category("software"),
            incurred_on=date(2025, 3, 3),
        ),
        "eur": make_cost(
            status=Cost.Status.APPROVED,
            submitted_by=org.member,
            organization_unit=org.platform,
            amount="50.00",
            currency="EUR",  # 60.00 USD at 1.20
            tags={"team": "web"},
            incurred_on=date(2025, 4, 9),
        ),
        "sales": make_cost(
            status=Cost.Status.APPROVED,
            submitted_by=org.sales_member,
            organization_unit=org.sales,
            amount="7.00",
            incurred_on=date(2025, 3, 20),
        ),
        "pending": make_cost(
            submitted_by=org.member,
            resource=org.resource,
            amount="999.00",
            incurred_on=date(2025, 3, 4),
        ),
    }


def _total(html: str) -> str:
    return html.split('id="explorer-total">')[1].split("<")[0]


def test_first_visit_shows_approved_costs_the_member_may_see(client, org, spend):
    response = _client(client, org.member).get(EXPLORER)
    assert response.status_code == 200
    html = response.content.decode()
    assert _total(html) == "160.00 USD"
    assert f'href="/costs/{spend["db"].pk}/"' in html
    assert f'id="cost-{spend["sales"].pk}"' not in html  # another unit's
    assert f'id="cost-{spend["pending"].pk}"' not in html  # not approved
    assert 'id="nav-explorer"' in html


def test_finance_sees_everything(client, org, spend):
    html = _client(client, org.fin).get(EXPLORER).content.decode()
    assert _total(html) == "167.00 USD"


@pytest.mark.parametrize(
    ("params", "total"),
    [
        ({"status": ""}, "1,159.00 USD"),
        ({"status": "pending"}, "999.00 USD"),
        ({"status": "approved", "currency": "eur"}, "60.00 USD"),
        ({"status": "approved", "tag": "team=data"}, "100.00 USD"),
        ({"status": "approved", "incurred_after": "2025-04-01"}, "60.00 USD"),
        ({"status": "approved", "incurred_before": "2025-03-31"}, "100.00 USD"),
    ],
)
def test_filters(client, org, spend, params, total):
    html = _client(client, org.member).get(EXPLORER, params).content.decode()
    assert _total(html) == total


def test_object_filters_and_subtrees(client, org, spend):
    _client(client, org.fin)
    by = {
        "organization_unit": (org.eng.pk, "160.00 USD"),  # platform is under eng
        "resource": (org.resource.pk, "100.00 USD"),
        "entity": (org.entity.pk, "100.00 USD"),  # via the resource's entity
        "category": (category("software").pk, "100.00 USD"),
    }
    for name, (pk, total) in by.items():
        html = client.get(EXPLORER, {"status": "approved", name: pk}).content.decode()
        assert _total(html) == total, name


def test_resource_and_entity_options_are_escaped_and_keep_the_choice(client, org, spend):
    org.resource.name = '<b onmouseover="x">db</b>'
    org.resource.save(update_fields=["name"])
    _client(client, org.fin)
    html = client.get(EXPLORER, {"status": "approved", "resource": org.resource.pk})
    html = html.content.decode()
    assert '<b onmouseover="x">' not in html
    option = (
        f'<option value="{org.resource.pk}" selected>&lt;b onmouseover=&quot;x&quot;&gt;db'
        f"&lt;/b&gt; ({org.resource.organization_unit.name})</option>"
    )
    assert option in html
    assert re.search(
        r'<select name="entity" id="id_entity"[^>]*><option value="" selected>Any entity<', html
    )
    assert f'<option value="{org.entity.pk}">{org.entity.name}' in html


def test_another_units_ids_are_refused(client, org, spend):
    response = _client(client, org.member).get(
        EXPLORER, {"status": "approved", "organization_unit": org.sales.pk}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="organization_unit-errors"' in html
    assert f'id="cost-{spend["sales"].pk}"' not in html
    assert _total(html) == "0.00 USD"
    csv = client.get("/costs/csv/", {"organization_unit": org.sales.pk})
    assert csv.status_code == 400 and b"organization_unit" in csv.content


def test_group_by_two_keys_with_a_chart_and_totals(client, org, spend):
    params = {"status": "approved", "group_by": "month", "then_by": "tag", "group_tag": "team"}
    html = _client(client, org.member).get(EXPLORER, params).content.decode()
    table = html.split('id="explorer-groups"')[1].split("</table>")[0]
    assert "Mar 2025" in table and "Apr 2025" in table
    assert "<td>data</td>" in table and "<td>web</td>" in table
    assert "100.00" in table and "60.00" in table and "160.00" in table
    assert "<svg" in html and "Spend by month" in html
    assert "{#" not in html and "{%" not in html  # no template source leaks into the page


def test_group_by_unit_names_the_units(client, org, spend):
    html = (
        _client(client, org.fin)
        .get(EXPLORER, {"status": "approved", "group_by": "organization_unit"})
        .content.decode()
    )
    table = html.split('id="explorer-groups"')[1].split("</table>")[0]
    assert "<td>Platform</td>" in table and "<td>Sales</td>" in table


def test_bad_group_keys_are_shown(client, org, spend):
    response = _client(client, org.member).get(EXPLORER, {"group_by": "month", "then_by": "month"})
    assert response.status_code == 400
    assert "only once" in response.content.decode()
    response = client.get(EXPLORER, {"group_by": "tag"})
    assert "Give the tag key" in response.content.decode()


@pytest.mark.parametrize("user", ["member", "fin"])
def test_csv_download_equals_the_api_csv_for_the_same_filters(client, org, spend, user):
    _client(client, getattr(org, user))
    params = {"status": "approved", "organization_unit": org.platform.pk, "tag": "team=data"}
    page = client.get(EXPLORER, params).content.decode()
    link = page.split('id="csv-download"')[0].rsplit('href="', 1)[1].split('"')[0]
    link = link.replace("&amp;", "&")
    download = client.get(link)
    api = client.get(
        "/api/v1/costs/",
        {
            "format": "csv",
            "status": "approved",
            "organization_unit": org.platform.pk,
            "include_descendants": "true",
            "tags": "team:data",
        },
    )
    assert download.status_code == 200 and api.status_code == 200
    ours = b"".join(download.streaming_content).decode()
    theirs = b"".join(api.streaming_content).decode()
    assert ours == theirs
    assert ours.count("\n") == 2  # header + the one cost
    assert str(spend["db"].pk) in ours.splitlines()[1]


def test_finance_totals_from_the_summary_equal_the_costs(org, spend):
    """Finance's summary path and the raw path give the same groups."""
    for keys in ((), ("month",), ("resource",), ("organization_unit", "currency")):
        params = {
            "status": "approved",
            "organization_unit": str(org.root.pk),
            "include_descendants": "true",
            "incurred_after": "2025-03-02",
        }
        costs = selectors.cost_list(user=org.fin, filters=params)
        summary = reports.list_totals(user=org.fin, filters=params, costs=costs, group_by=keys)
        raw = [r for r in reports.grouped_totals(costs, group_by=keys) if r["count"] or not keys]
        assert summary == raw, keys
    assert sum(r["total"] for r in summary) == Decimal("167.00")


def test_paginated_with_bounded_queries(client, org, spend, django_assert_max_num_queries):
    clone_costs(spend["db"], 70)
    _client(client, org.member)
    params = {"status": "approved", "group_by": "category", "then_by": "month"}
    with django_assert_max_num_queries(16):
        response = client.get(EXPLORER, params)
    html = response.content.decode()
    assert html.count('<tr id="cost-') == 50
    assert _total(html) == "7,160.00 USD"
    with django_assert_max_num_queries(16):
        html = client.get(EXPLORER, {**params, "page": 2}).content.decode()
    assert html.count('<tr id="cost-') == 22


def test_needs_a_login(client, org):
    for url in (EXPLORER, "/costs/csv/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_finance_first_visit_reads_the_summary_with_bounded_queries(
    client, org, spend, django_assert_max_num_queries
):
    clone_costs(spend["db"], 30)
    _client(client, org.fin)
    with django_assert_max_num_queries(14):
        response = client.get(EXPLORER, {"status": "approved", "group_by": "organization_unit"})
    html = response.content.decode()
    assert _total(html) == "3,167.00 USD"
    assert "<td>Platform</td>" in html.split('id="explorer-groups"')[1]


def test_finance_totals_of_every_status_add_the_raw_rest_to_the_summary(
    client, org, spend, django_assert_max_num_queries
):
    """Every status: approved and pending from the summary, drafts, rejected and voided costs
    read raw, added up per group; the same groups and totals as the raw path."""
    make_cost(
        status=Cost.Status.REJECTED,
        submitted_by=org.member,
        resource=org.resource,
        amount="11.00",
        incurred_on=date(2025, 3, 3),
    )
    make_cost(
        status=Cost.Status.DRAFT,
        submitted_by=org.member,
        organization_unit=org.platform,
        amount="2.50",
        incurred_on=date(2025, 5, 1),
    )
    for keys in ((), ("month",), ("resource",), ("organization_unit", "currency")):
        params = {"status": "", "incurred_after": "2025-03-01"}
        costs = selectors.cost_list(user=org.fin, filters=params)
        merged = reports.list_totals(user=org.fin, filters=params, costs=costs, group_by=keys)
        raw = [r for r in reports.grouped_totals(costs, group_by=keys) if r["count"] or not keys]
        assert merged == raw, keys
    by_month = reports.list_totals(user=org.fin, filters=params, costs=costs, group_by=["month"])
    assert [(str(r["month"]), r["total"], r["count"]) for r in by_month] == [
        ("2025-03-01", Decimal("1117.00"), 4),
        ("2025-04-01", Decimal("60.00"), 1),
        ("2025-05-01", Decimal("2.50"), 1),
    ]
    _client(client, org.fin)
    with django_assert_max_num_queries(16):
        html = client.get(EXPLORER, {"status": "", "group_by": "month"}).content.decode()
    assert _total(html) == "1,179.50 USD"
