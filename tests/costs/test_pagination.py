"""Lists that never count the world: capped counts, cursor pages, bounded queries."""

import re

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from costs import selectors
from costs.export import cost_csv_lines
from tests.costs.factories import clone_costs, make_cost

pytestmark = pytest.mark.django_db

URL = "/api/v1/costs/"


@pytest.fixture
def eight_costs(org):
    first = make_cost(submitted_by=org.member, resource=org.resource, amount="3.00")
    clone_costs(first, 7)
    return sorted(selectors.cost_list(user=org.fin).values_list("pk", flat=True))


def _walk(client, url, params=None) -> list[list[int]]:
    """The ids of every page, following ``next`` from the first page to the last."""
    pages = []
    response = client.get(url, params or {})
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([row["id"] for row in body["results"]])
        if not body["next"]:
            return pages
        assert len(pages) < 20, "next links never end"
        response = client.get(body["next"])


def _cost_counts(queries) -> list[str]:
    return [q["sql"] for q in queries if "COUNT(" in q["sql"] and "costs_cost" in q["sql"]]


# --- the capped count --------------------------------------------------------------------


@override_settings(COSTTRACK_LIST_COUNT_CAP=5)
def test_count_stops_at_the_cap_and_says_so(client_for, org, eight_costs):
    client = client_for(org.fin)
    with CaptureQueriesContext(connection) as ctx:
        body = client.get(URL, {"limit": 2}).json()
    assert body["count"] == 5 and body["count_capped"] is True
    assert set(body) == {"count", "count_capped", "next", "previous", "results"}
    assert len(body["results"]) == 2
    counts = _cost_counts(ctx.captured_queries)
    assert len(counts) == 1 and re.search(r"LIMIT 6\b", counts[0]), counts
    # a page deep in the list still counts far enough to offer the next page
    body = client.get(URL, {"limit": 2, "offset": 4}).json()
    assert body["count_capped"] is True and body["next"]


@override_settings(COSTTRACK_LIST_COUNT_CAP=5)
def test_offset_pages_walk_past_the_cap_and_see_every_cost_once(client_for, org, eight_costs):
    pages = _walk(client_for(org.fin), URL, {"limit": 3, "ordering": "id"})
    assert pages == [eight_costs[0:3], eight_costs[3:6], eight_costs[6:8]]


def test_count_below_the_cap_is_exact(client_for, org, eight_costs):
    body = client_for(org.fin).get(URL, {"limit": 2}).json()
    assert body["count"] == 8
    assert set(body) == {"count", "next", "previous", "results"}  # the shape clients know


@override_settings(COSTTRACK_LIST_COUNT_CAP=2)
def test_other_lists_count_with_the_same_cap(client_for, org):
    from tests.orgunits.factories import OrganizationUnitFactory

    for _ in range(3):
        OrganizationUnitFactory(parent=org.root)
    client = client_for(org.fin)
    body = client.get("/api/v1/org-units/", {"limit": 1}).json()
    assert body["count"] == 2 and body["count_capped"] is True and body["next"]
    # a page longer than the cap is counted to its end, so its count is exact
    body = client.get("/api/v1/org-units/").json()
    assert body["count"] == len(body["results"]) == 7 and "count_capped" not in body


# --- cursor pages ------------------------------------------------------------------------


def test_cursor_pages_visit_every_cost_exactly_once_newest_first(client_for, org, eight_costs):
    pages = _walk(client_for(org.fin), URL, {"cursor": "", "limit": 3})
    newest_first = eight_costs[::-1]
    assert pages == [newest_first[0:3], newest_first[3:6], newest_first[6:8]]


def test_cursor_pages_oldest_first_and_back_again(client_for, org, eight_costs):
    client = client_for(org.fin)
    first = client.get(URL, {"cursor": "", "limit": 5, "ordering": "id"}).json()
    assert [r["id"] for r in first["results"]] == eight_costs[:5]
    assert first["previous"] is None and first["count"] == 8
    second = client.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == eight_costs[5:]
    assert second["next"] is None
    back = client.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == eight_costs[:5]


def test_cursor_pages_keep_the_filters(client_for, org, eight_costs):
    other = make_cost(submitted_by=org.sales_member, organization_unit=org.sales)
    pages = _walk(
        client_for(org.fin), URL, {"cursor": "", "limit": 4, "organization_unit": org.sales.pk}
    )
    assert pages == [[other.pk]]


def test_cursor_pages_refuse_an_ordering_they_cannot_keep(client_for, org, eight_costs):
    response = client_for(org.fin).get(URL, {"cursor": "", "ordering": "-amount"})
    assert response.status_code == 400
    assert "ordering" in response.json()


def test_a_bad_cursor_is_a_clear_404(client_for, org, eight_costs):
    response = client_for(org.fin).get(URL, {"cursor": "not-a-cursor"})
    assert response.status_code == 404
    assert "cursor" in response.json()["detail"].lower()


# --- bounded queries ---------------------------------------------------------------------


@pytest.mark.parametrize("params", [{"limit": 50}, {"cursor": "", "limit": 50}])
def test_the_list_page_runs_the_same_queries_for_5_or_60_costs(client_for, org, params):
    client = client_for(org.fin)
    first = make_cost(submitted_by=org.member, resource=org.resource)
    clone_costs(first, 4)
    client.get(URL, params)  # the user's roles are read once and kept
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL, params).status_code == 200
    clone_costs(first, 55)
    with CaptureQueriesContext(connection) as many:
        body = client.get(URL, params).json()
    assert len(body["results"]) == 50
    assert len(many.captured_queries) == len(few.captured_queries) <= 6


# --- admin and pages ---------------------------------------------------------------------


@pytest.fixture
def fin_admin(client, org):
    from django.contrib.auth.models import Permission

    org.fin.is_staff = True
    org.fin.save(update_fields=["is_staff"])
    org.fin.user_permissions.add(*Permission.objects.filter(content_type__app_label="costs"))
    client.force_login(org.fin)
    return client


@pytest.mark.parametrize(("name", "cap"), [("costs_cost", 5), ("costs_costevent", 1)])
def test_admin_changelist_never_counts_the_whole_table(fin_admin, org, eight_costs, name, cap):
    # eight costs; the one made through the services has two events (created, submitted)
    with override_settings(COSTTRACK_LIST_COUNT_CAP=cap), CaptureQueriesContext(connection) as ctx:
        response = fin_admin.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200
    cl = response.context["cl"]
    assert cl.result_count == cap and cl.paginator.capped
    assert cl.full_result_count is None
    assert len(cl.result_list) > cap  # the page itself is not cut at the cap
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"]]
    assert counts and all(re.search(rf"LIMIT {cap + 1}\b", sql) for sql in counts), counts


@override_settings(COSTTRACK_LIST_COUNT_CAP=5)
def test_inbox_says_more_than_the_cap_are_waiting(client, org, eight_costs):
    client.force_login(org.res_owner)
    html = client.get(reverse("costs:inbox")).content.decode()
    assert "More than 5 costs waiting" in html
    assert html.count('id="cost-') == 8  # every waiting cost is still listed


def test_inbox_below_the_cap_gives_the_exact_number(client, org, eight_costs):
    client.force_login(org.res_owner)
    html = client.get(reverse("costs:inbox")).content.decode()
    assert "8 costs waiting." in html


@override_settings(COSTTRACK_LIST_COUNT_CAP=5)
def test_dashboard_counts_pending_approvals_up_to_the_cap(client, org, eight_costs):
    client.force_login(org.res_owner)
    with CaptureQueriesContext(connection) as ctx:
        html = client.get("/").content.decode()
    assert 'id="pending-count">5+<' in html
    assert "All 5+ waiting for you" in html
    counts = _cost_counts(ctx.captured_queries)
    assert any(re.search(r"LIMIT 6\b", sql) for sql in counts), counts


# --- the streamed CSV export -------------------------------------------------------------


def test_csv_export_streams_the_same_body_in_bounded_queries(client_for, org, eight_costs):
    client = client_for(org.fin)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, {"format": "csv", "ordering": "id"})
        body = b"".join(response.streaming_content).decode()
    assert isinstance(response, StreamingHttpResponse)
    expected = "".join(cost_csv_lines(selectors.cost_list(user=org.fin).order_by("id")))
    assert body == expected
    assert body.count("\n") == 9  # the header and eight costs
    assert len(ctx.captured_queries) <= 3
