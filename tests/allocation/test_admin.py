"""The admin of a run's rows (read-only) and of usage (written through the services)."""

from datetime import date
from decimal import Decimal
from unittest import mock

import pytest

from allocation import services
from allocation.models import (
    AllocationFlow,
    AllocationResult,
    AllocationRun,
    CostNode,
    LedgerEntry,
    UsageRecord,
)

from .factories import MARCH, approved_cost, edge, node, resource_node, usage

pytestmark = pytest.mark.django_db

ADMIN = "/admin/allocation"
ROWS = {
    "allocationresult": AllocationResult,
    "allocationflow": AllocationFlow,
    "ledgerentry": LedgerEntry,
}


@pytest.fixture
def runs():
    """Two runs over a database shared by 30 products; the second sees one more cost."""
    db = resource_node("database", CostNode.Kind.SHARED_SERVICE)
    for i in range(30):
        edge(db, node(f"product-{i:02d}"))
    approved_cost("300.00", resource=db.resource)
    first = services.allocation_run(**MARCH)
    approved_cost("30.00", resource=db.resource)
    second = services.allocation_run(**MARCH)
    return first, second


@pytest.mark.parametrize("model", ROWS)
def test_run_rows_are_listed_in_a_bounded_number_of_queries(
    admin_client, runs, model, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        r = admin_client.get(f"{ADMIN}/{model}/")
    assert r.status_code == 200
    assert len(r.context["cl"].result_list) == min(100, ROWS[model].objects.count())


@pytest.mark.parametrize("model", ROWS)
def test_run_rows_filter_by_run_and_node(admin_client, runs, model):
    first, second = runs
    product = CostNode.objects.get(name="product-07")
    r = admin_client.get(f"{ADMIN}/{model}/", {"run": first.pk, "node": product.pk})
    assert r.status_code == 200
    shown = list(r.context["cl"].result_list)
    assert shown and {row.run_id for row in shown} == {first.pk}
    for row in shown:
        linked = {getattr(row, f, None) for f in ("node_id", "from_node_id", "to_node_id")}
        assert product.pk in linked
    everything = admin_client.get(f"{ADMIN}/{model}/", {"run": second.pk})
    assert {row.run_id for row in everything.context["cl"].result_list} == {second.pk}


def test_the_result_amounts_shown_are_the_runs(admin_client, runs):
    first, _ = runs
    product = CostNode.objects.get(name="product-00")
    r = admin_client.get(f"{ADMIN}/allocationresult/", {"run": first.pk, "node": product.pk})
    [row] = r.context["cl"].result_list
    assert row.holistic == Decimal("10.00")
    assert "product-00" in r.content.decode()


@pytest.mark.parametrize("model", ROWS)
def test_run_rows_cannot_be_added_changed_or_deleted(admin_client, runs, model):
    row = ROWS[model].objects.order_by("id").first()
    count = ROWS[model].objects.count()
    assert admin_client.get(f"{ADMIN}/{model}/add/").status_code == 403
    detail = admin_client.get(f"{ADMIN}/{model}/{row.pk}/change/")
    assert detail.status_code == 200  # viewed, read-only
    assert b'name="_save"' not in detail.content
    assert admin_client.post(f"{ADMIN}/{model}/{row.pk}/change/", {}).status_code == 403
    assert admin_client.post(f"{ADMIN}/{model}/{row.pk}/delete/", {"post": "yes"}).status_code == (
        403
    )
    bulk = admin_client.post(
        f"{ADMIN}/{model}/", {"action": "delete_selected", "_selected_action": [row.pk]}
    )
    assert bulk.status_code in (200, 302)
    assert ROWS[model].objects.count() == count


def test_usage_added_in_the_admin_goes_through_the_service(admin_client):
    web = node("web")
    form = {"node": web.pk, "metric": "cpu_hours", "date": "2025-03-02", "quantity": "12.5"}
    with mock.patch(
        "allocation.admin.services.usage_record_create", wraps=services.usage_record_create
    ) as create:
        r = admin_client.post(f"{ADMIN}/usagerecord/add/", {**form, "dimension": ""})
    assert r.status_code == 302, r.content.decode()[:2000]
    create.assert_called_once()
    record = UsageRecord.objects.get()
    assert (record.node, record.quantity, record.dimension) == (web, Decimal("12.5"), "")


def test_usage_changed_in_the_admin_goes_through_the_service(admin_client):
    web = node("web")
    record = usage(web, "cpu_hours", 3)
    form = {"node": web.pk, "metric": "cpu_hours", "date": "2025-03-15", "quantity": "4"}
    with mock.patch(
        "allocation.admin.services.usage_record_update", wraps=services.usage_record_update
    ) as update:
        r = admin_client.post(
            f"{ADMIN}/usagerecord/{record.pk}/change/", {**form, "dimension": "storage"}
        )
    assert r.status_code == 302
    update.assert_called_once()
    record.refresh_from_db()
    assert (record.quantity, record.dimension) == (Decimal("4"), "storage")


def test_bad_usage_in_the_admin_writes_nothing(admin_client):
    web = node("web")
    r = admin_client.post(
        f"{ADMIN}/usagerecord/add/",
        {"node": web.pk, "metric": "cpu", "date": "2025-03-02", "quantity": "-1"},
    )
    assert r.status_code == 200
    assert "quantity" in r.context["adminform"].form.errors
    assert UsageRecord.objects.count() == 0


def test_usage_deleted_in_the_admin_goes_through_the_service(admin_client):
    web = node("web")
    records = [usage(web, "cpu", 1), usage(web, "cpu", 2, day=date(2025, 3, 16))]
    with mock.patch(
        "allocation.admin.services.usage_record_delete", wraps=services.usage_record_delete
    ) as delete:
        r = admin_client.post(
            f"{ADMIN}/usagerecord/",
            {
                "action": "delete_selected",
                "_selected_action": [r.pk for r in records],
                "post": "yes",
            },
        )
    assert r.status_code == 302
    assert delete.call_count == 2
    assert UsageRecord.objects.count() == 0


def test_the_run_admin_shows_a_reused_run(admin_client, runs):
    _, second = runs
    with mock.patch("allocation.tasks.run_allocation.delay"):
        pending, _ = services.allocation_run_request(**MARCH)
    services.allocation_run_execute(run_id=pending.pk)
    pending.refresh_from_db()
    assert pending.same_as_id == second.pk
    r = admin_client.get(f"{ADMIN}/allocationresult/", {"run": pending.pk})
    assert {row.run_id for row in r.context["cl"].result_list} == {second.pk}
    assert AllocationRun.objects.count() == 3


@pytest.mark.parametrize("model", ["costnode", "allocationedge", "usagerecord"])
def test_staff_outside_finance_only_view_the_graph_whatever_their_permissions(client, model):
    from django.contrib.auth.models import Group, Permission

    from tests.orgunits.factories import UserFactory, auditor_user

    n = node("app")
    staff = UserFactory(username="staff-graph", is_staff=True)
    auditor = auditor_user(username="aud-graph-admin", is_staff=True)
    auditor.groups.add(Group.objects.get(name="finance"))
    perms = Permission.objects.filter(content_type__app_label="allocation")
    for user in (staff, auditor):
        user.user_permissions.set(perms)
        client.force_login(user)
        assert client.get(f"/admin/allocation/{model}/add/").status_code == 403
        assert client.get(f"/admin/allocation/{model}/").status_code == 200
    client.force_login(staff)
    response = client.post(f"/admin/allocation/costnode/{n.pk}/change/", {"name": "x"})
    assert response.status_code == 403
    assert CostNode.objects.get(pk=n.pk).name == "app"


# --- revenue and the product tree -----------------------------------------------------


def test_revenue_added_in_the_admin_goes_through_the_service(admin_client):
    from allocation.models import Revenue

    web = node("web")
    form = {"node": web.pk, "date": "2025-03-01", "grain": "month", "amount": "120.50"}
    with mock.patch("allocation.admin.services.revenue_set", wraps=services.revenue_set) as create:
        r = admin_client.post(f"{ADMIN}/revenue/add/", {**form, "currency": "USD"})
    assert r.status_code == 302, r.content.decode()[:2000]
    create.assert_called_once()
    row = Revenue.objects.get()
    assert (row.node, row.grain, row.amount_reporting) == (web, "month", Decimal("120.50"))
    assert admin_client.get(f"{ADMIN}/revenue/").status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"date": "2025-03-02"}, "date"),  # a month on another day than the first
        ({"currency": "XXQ"}, "currency"),
        ({"amount": "1.001"}, "amount"),
    ],
)
def test_bad_revenue_in_the_admin_writes_nothing(admin_client, change, field):
    from allocation.models import Revenue

    web = node("web")
    form = {"node": web.pk, "date": "2025-03-01", "grain": "month", "amount": "1.00"}
    r = admin_client.post(f"{ADMIN}/revenue/add/", {**form, "currency": "USD", **change})
    assert r.status_code == 200
    assert field in r.context["adminform"].form.errors
    assert Revenue.objects.count() == 0


def test_a_product_tree_loop_is_a_form_error_in_the_admin(admin_client):
    suite = node("suite")
    part = node("part", parent_product=suite)
    form = {"name": "suite", "kind": "product", "parent_product": part.pk, "description": ""}
    r = admin_client.post(f"{ADMIN}/costnode/{suite.pk}/change/", form)
    assert r.status_code == 200
    assert "parent_product" in r.context["adminform"].form.errors
    suite.refresh_from_db()
    assert suite.parent_product is None
