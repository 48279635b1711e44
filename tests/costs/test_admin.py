"""Django admin for costs: lists, transition buttons and bulk actions through the services,
a read-only status, a view-only audit trail, exchange rates and the category tree."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from costs.models import Cost, CostCategory, CostEvent, ExchangeRate
from orgunits import services as org_services
from tests.costs.factories import make_cost

pytestmark = pytest.mark.django_db


def _status(cost) -> str:
    return Cost.objects.values_list("status", flat=True).get(pk=cost.pk)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _staff(user, *codenames):
    """Make ``user`` a staff member with these costs permissions (not finance)."""
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="costs", codename__in=codenames)
    )
    return user


@pytest.fixture
def fin_admin(client, org):
    org.fin.is_staff = True
    org.fin.save(update_fields=["is_staff"])
    org.fin.user_permissions.add(*Permission.objects.filter(content_type__app_label="costs"))
    client.force_login(org.fin)
    return client


def _pending(org, **fields):
    fields.setdefault("resource", org.resource)
    return make_cost(submitted_by=org.member, **fields)


def change_form_data(response) -> dict:
    """The POST body the admin change page would send back unchanged."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is not None:
            data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for key, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{key}"] = value
    return data


# --- lists ----------------------------------------------------------------------------


def test_cost_changelist_filters_and_searches(fin_admin, org, django_assert_max_num_queries):
    for i in range(15):
        _pending(org, amount=f"{i + 1}.00", description=f"pending {i}")
    approved = make_cost(
        submitted_by=org.member, resource=org.resource, status="approved", description="billed"
    )
    url = reverse("admin:costs_cost_changelist")
    with django_assert_max_num_queries(20):
        response = fin_admin.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 16
    response = fin_admin.get(url, {"status__exact": "approved"})
    assert [c.pk for c in response.context["cl"].result_list] == [approved.pk]
    response = fin_admin.get(url, {"q": "billed"})
    assert [c.pk for c in response.context["cl"].result_list] == [approved.pk]
    response = fin_admin.get(url, {"currency": "USD", "source__exact": "manual"})
    assert response.status_code == 200
    response = fin_admin.get(url, {"incurred_on__year": "2025", "incurred_on__month": "3"})
    assert response.context["cl"].result_count == 16
    for name in ("costevent", "exchangerate", "costcategory"):
        assert fin_admin.get(reverse(f"admin:costs_{name}_changelist")).status_code == 200


def test_changelists_show_only_what_the_user_may_see(client, org, django_assert_max_num_queries):
    """A staff user who is not finance sees in the admin what the API shows them: the costs
    of their units, theirs and those they decide, and only those costs' audit trail."""
    from tests.orgunits.factories import UserFactory

    mine = [_pending(org, amount=f"{n}.00") for n in (1, 2, 3)]
    theirs = make_cost(submitted_by=org.sales_member, organization_unit=org.sales)
    their_event = CostEvent.objects.filter(cost=theirs).first()
    costs_url = reverse("admin:costs_cost_changelist")
    events_url = reverse("admin:costs_costevent_changelist")

    _staff(org.member, "view_cost", "view_costevent")
    client.force_login(org.member)
    with django_assert_max_num_queries(20):
        response = client.get(costs_url)
    assert {c.pk for c in response.context["cl"].result_list} == {c.pk for c in mine}
    response = client.get(events_url)
    assert {e.cost_id for e in response.context["cl"].result_list} == {c.pk for c in mine}
    response = client.get(reverse("admin:costs_cost_change", args=[theirs.pk]))
    assert (response.status_code, response["Location"]) == (302, reverse("admin:index"))
    response = client.get(reverse("admin:costs_costevent_change", args=[their_event.pk]))
    assert (response.status_code, response["Location"]) == (302, reverse("admin:index"))
    assert client.get(costs_url, {"q": str(theirs.pk)}).context["cl"].result_count == 0

    everything = {c.pk for c in (*mine, theirs)}
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    for user in (org.fin, org.aud, superuser):
        _staff(user, "view_cost", "view_costevent")
        client.force_login(user)
        response = client.get(costs_url)
        assert {c.pk for c in response.context["cl"].result_list} == everything, user
        response = client.get(events_url)
        assert {e.cost_id for e in response.context["cl"].result_list} == everything, user


def test_auditor_gets_view_only_pages_whatever_permissions_they_hold(client, org):
    from django.contrib.auth.models import Permission

    cost = _pending(org)
    approved = make_cost(submitted_by=org.member, resource=org.resource, status="approved")
    rate = ExchangeRate.objects.create(currency="EUR", date=date(2025, 1, 1), rate="1.1")
    saas = CostCategory.objects.get(slug="saas")
    aud = org.aud
    aud.is_staff = True
    aud.save(update_fields=["is_staff"])
    aud.user_permissions.add(*Permission.objects.filter(content_type__app_label="costs"))
    client.force_login(aud)
    before = (
        list(Cost.objects.order_by("pk").values()),
        list(CostEvent.objects.order_by("pk").values()),
        list(ExchangeRate.objects.order_by("pk").values()),
        list(CostCategory.objects.order_by("pk").values()),
    )

    change_url = reverse("admin:costs_cost_change", args=[cost.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert "transition-" not in page.content.decode()
    assert client.post(change_url, {"description": "rewritten"}).status_code == 403
    for action in ("approve", "reject", "cancel"):
        url = reverse("admin:costs_cost_transition", args=[cost.pk, action])
        assert client.post(url, {"comment": "x"}).status_code == 403
    void_url = reverse("admin:costs_cost_transition", args=[approved.pk, "void"])
    assert client.post(void_url, {"reason": "x"}).status_code == 403
    changelist = client.get(reverse("admin:costs_cost_changelist"))
    assert "approve_selected" not in changelist.content.decode()
    client.post(
        reverse("admin:costs_cost_changelist"),
        {"action": "approve_selected", "_selected_action": [cost.pk], "comment": "x"},
    )
    for name in ("cost", "exchangerate", "costcategory"):
        assert client.get(reverse(f"admin:costs_{name}_add")).status_code == 403
    response = client.post(
        reverse("admin:costs_exchangerate_add"),
        {"currency": "GBP", "date": "2025-01-01", "rate": "1.2"},
    )
    assert response.status_code == 403
    assert (
        client.post(
            reverse("admin:costs_exchangerate_change", args=[rate.pk]),
            {"currency": "EUR", "date": "2025-01-01", "rate": "9"},
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("admin:costs_exchangerate_delete", args=[rate.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("admin:costs_costcategory_change", args=[saas.pk]),
            {"name": "X", "slug": "saas"},
        ).status_code
        == 403
    )

    after = (
        list(Cost.objects.order_by("pk").values()),
        list(CostEvent.objects.order_by("pk").values()),
        list(ExchangeRate.objects.order_by("pk").values()),
        list(CostCategory.objects.order_by("pk").values()),
    )
    assert after == before


# --- transitions ----------------------------------------------------------------------


def test_change_page_shows_the_transitions_the_user_may_take(client, org):
    cost = _pending(org)
    _staff(org.res_owner, "view_cost", "change_cost")
    client.force_login(org.res_owner)
    html = client.get(reverse("admin:costs_cost_change", args=[cost.pk])).content.decode()
    assert 'id="transition-approve"' in html and 'id="transition-reject"' in html
    assert 'id="transition-void"' not in html
    # the audit trail is shown read-only on the page
    assert "Submitted" in html


def test_transition_button_approves_through_the_service(client, org):
    cost = _pending(org)
    _staff(org.res_owner, "view_cost", "change_cost")
    client.force_login(org.res_owner)
    url = reverse("admin:costs_cost_transition", args=[cost.pk, "approve"])
    assert client.get(url).status_code == 405
    response = client.post(url, {"comment": "ok via admin"})
    assert response.status_code == 302
    assert f"Cost #{cost.pk} approved." in _messages(response)
    assert _status(cost) == "approved"
    event = CostEvent.objects.get(cost=cost, action="approve")
    assert (event.actor, event.comment) == (org.res_owner, "ok via admin")


def test_submitter_cannot_approve_own_cost_in_the_admin(client, org):
    cost = _pending(org)
    _staff(org.member, "view_cost", "change_cost")
    client.force_login(org.member)
    response = client.post(
        reverse("admin:costs_cost_transition", args=[cost.pk, "approve"]), {"comment": "me"}
    )
    assert any("cannot decide a cost you submitted" in m for m in _messages(response))
    assert _status(cost) == "pending"
    assert not CostEvent.objects.filter(cost=cost, action="approve").exists()


def test_transitions_need_the_change_permission(client, org):
    cost = _pending(org)
    _staff(org.res_owner, "view_cost")
    client.force_login(org.res_owner)
    response = client.post(reverse("admin:costs_cost_transition", args=[cost.pk, "approve"]))
    assert response.status_code == 403
    assert _status(cost) == "pending"


def test_only_finance_voids_and_with_a_reason(client, fin_admin, org):
    cost = make_cost(submitted_by=org.member, resource=org.resource, status="approved")
    url = reverse("admin:costs_cost_transition", args=[cost.pk, "void"])
    response = fin_admin.post(url, {"reason": "  "})
    assert any("Give the reason" in m for m in _messages(response))
    assert _status(cost) == "approved"
    html = fin_admin.get(reverse("admin:costs_cost_change", args=[cost.pk])).content.decode()
    assert 'id="transition-void"' in html
    response = fin_admin.post(url, {"reason": "duplicate invoice"})
    assert _status(cost) == "voided"
    assert CostEvent.objects.get(cost=cost, action="void").comment == "duplicate invoice"

    other = make_cost(submitted_by=org.member, resource=org.resource, status="approved")
    fin_admin.logout()
    _staff(org.res_owner, "view_cost", "change_cost")
    fin_admin.force_login(org.res_owner)
    response = fin_admin.post(
        reverse("admin:costs_cost_transition", args=[other.pk, "void"]), {"reason": "x"}
    )
    assert any("Only finance staff may void" in m for m in _messages(response))
    assert _status(other) == "approved"


def test_bulk_approve_and_reject_with_a_comment(client, org):
    org_services.membership_set(user=org.res_owner, unit=org.platform, role="member")
    costs = [_pending(org, amount=f"{n}.00") for n in (1, 2)]
    own = make_cost(submitted_by=org.res_owner, resource=org.resource)
    _staff(org.res_owner, "view_cost", "change_cost")
    client.force_login(org.res_owner)
    url = reverse("admin:costs_cost_changelist")
    response = client.post(
        url,
        {
            "action": "approve_selected",
            "_selected_action": [c.pk for c in (*costs, own)],
            "comment": "month end",
        },
    )
    assert response.status_code == 302
    msgs = _messages(response)
    assert "2 cost(s) approved." in msgs
    assert any(f"#{own.pk}:" in m and "not approved" in m for m in msgs)
    for cost in costs:
        assert _status(cost) == "approved"
        assert (
            CostEvent.objects.filter(cost=cost, action="approve", comment="month end").count() == 1
        )
    assert _status(own) == "pending"

    more = [_pending(org) for _ in range(2)]
    client.post(
        url,
        {"action": "reject_selected", "_selected_action": [c.pk for c in more], "comment": "no"},
    )
    assert all(_status(c) == "rejected" for c in more)
    assert CostEvent.objects.filter(action="reject", comment="no").count() == 2


# --- editing through the services -----------------------------------------------------


def test_status_is_read_only_and_edits_write_an_event(fin_admin, org):
    cost = make_cost(submitted_by=org.member, resource=org.resource, status="draft")
    url = reverse("admin:costs_cost_change", args=[cost.pk])
    response = fin_admin.get(url)
    assert "status" not in response.context["adminform"].form.fields
    data = change_form_data(response)
    data.update({"description": "new words", "status": "approved"})
    response = fin_admin.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    cost = Cost.objects.get(pk=cost.pk)
    assert cost.status == "draft" and cost.description == "new words"
    edit = CostEvent.objects.get(cost=cost, action="edit")
    assert edit.actor == org.fin and edit.changes["description"] == ["", "new words"]


def test_add_cost_creates_a_draft_and_bad_input_writes_nothing(fin_admin, org):
    url = reverse("admin:costs_cost_add")
    base = {
        "amount": "12.34",
        "currency": "USD",
        "incurred_on": "2025-03-15",
        "resource": org.resource.pk,
        "description": "from the admin",
        "metadata": "{}",
        "tags": "{}",
    }
    before = Cost.objects.count()
    response = fin_admin.post(url, {**base, "currency": "XXQ"})
    assert response.status_code == 200
    assert "currency" in response.context["adminform"].form.errors
    response = fin_admin.post(url, {**base, "amount": "1.234"})
    assert response.status_code == 200
    assert "amount" in response.context["adminform"].form.errors
    assert Cost.objects.count() == before
    response = fin_admin.post(url, base)
    assert response.status_code == 302, response.context["adminform"].form.errors
    cost = Cost.objects.get(description="from the admin")
    assert cost.status == "draft" and cost.amount == Decimal("12.34")
    assert cost.organization_unit == org.platform and cost.submitted_by == org.fin
    assert list(cost.events.values_list("action", flat=True)) == ["create"]


def test_costs_cannot_be_deleted_in_the_admin(fin_admin, org):
    cost = _pending(org)
    response = fin_admin.post(reverse("admin:costs_cost_delete", args=[cost.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Cost.objects.filter(pk=cost.pk).exists()


# --- the audit trail is view-only -----------------------------------------------------


def test_cost_events_cannot_be_added_changed_or_deleted(fin_admin, org):
    cost = _pending(org)
    event = CostEvent.objects.filter(cost=cost).order_by("pk").first()
    snapshot = CostEvent.objects.filter(pk=event.pk).values().get()
    change_url = reverse("admin:costs_costevent_change", args=[event.pk])
    assert fin_admin.get(change_url).status_code == 200  # viewable
    response = fin_admin.post(
        change_url, {"action": "approve", "comment": "rewritten", "to_status": "approved"}
    )
    assert response.status_code == 403
    response = fin_admin.post(
        reverse("admin:costs_costevent_delete", args=[event.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert fin_admin.get(reverse("admin:costs_costevent_add")).status_code == 403
    response = fin_admin.post(
        reverse("admin:costs_costevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert CostEvent.objects.filter(pk=event.pk).values().get() == snapshot
    assert CostEvent.objects.filter(cost=cost).count() == 2
    # even a superuser gets no way to change one
    org.fin.is_superuser = True
    org.fin.save(update_fields=["is_superuser"])
    assert fin_admin.post(change_url, {"comment": "x"}).status_code == 403
    assert CostEvent.objects.filter(pk=event.pk).values().get() == snapshot


# --- exchange rates and categories ----------------------------------------------------


def test_exchange_rate_admin_writes_through_the_service(fin_admin, org):
    url = reverse("admin:costs_exchangerate_add")
    response = fin_admin.post(url, {"currency": "eur", "date": "2025-01-01", "rate": "1.05"})
    assert response.status_code == 302
    rate = ExchangeRate.objects.get(currency="EUR", date=date(2025, 1, 1))
    assert rate.rate == Decimal("1.05")
    response = fin_admin.post(url, {"currency": "NOPE", "date": "2025-01-01", "rate": "1"})
    assert response.status_code == 200
    assert ExchangeRate.objects.count() == 1


def test_category_tree_admin(fin_admin, org):
    parent = CostCategory.objects.get(slug="compute")
    response = fin_admin.post(
        reverse("admin:costs_costcategory_add"),
        {"name": "GPU", "slug": "gpu", "parent": parent.pk, "dimension": "compute"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    gpu = CostCategory.objects.get(slug="gpu")
    assert gpu.parent == parent and gpu.level == parent.level + 1
    html = fin_admin.get(reverse("admin:costs_costcategory_changelist")).content.decode()
    assert "GPU" in html


def test_change_page_with_a_long_trail_runs_a_bounded_number_of_queries(
    fin_admin, org, django_assert_max_num_queries
):
    from costs import services

    cost = _pending(org, amount="1.00")
    for n in range(2, 22):
        cost = services.cost_update(
            cost=cost, acting_user=org.member, amount=Decimal(f"{n}.00")
        ).cost
    with django_assert_max_num_queries(16):
        response = fin_admin.get(reverse("admin:costs_cost_change", args=[cost.pk]))
    assert response.status_code == 200
    assert response.content.decode().count("Edited") >= 20


# --- finance's period filter and CSV ------------------------------------------------------


def test_cost_changelist_filters_by_accounting_period(fin_admin, org):
    from costs.period_models import AccountingPeriod

    AccountingPeriod.objects.create(label="2025-03", start=date(2025, 3, 1), end=date(2025, 3, 31))
    AccountingPeriod.objects.create(label="2025-04", start=date(2025, 4, 1), end=date(2025, 4, 30))
    march = _pending(org, amount="3.00", incurred_on=date(2025, 3, 31))
    april = _pending(org, amount="4.00", incurred_on=date(2025, 4, 1))
    url = reverse("admin:costs_cost_changelist")
    response = fin_admin.get(url)
    assert b"2025-04 (open)" in response.content
    response = fin_admin.get(url, {"period": "2025-03"})
    assert [c.pk for c in response.context["cl"].result_list] == [march.pk]
    response = fin_admin.get(url, {"period": "2025-04"})
    assert [c.pk for c in response.context["cl"].result_list] == [april.pk]
    response = fin_admin.get(url, {"period": "1999-01"})
    assert response.context["cl"].result_count == 0


def test_selected_costs_download_as_the_api_csv(fin_admin, org):
    chosen = [_pending(org, amount=f"{n}.25", description=f"c{n}") for n in (1, 2)]
    _pending(org, amount="9.00", description="not chosen")
    response = fin_admin.post(
        reverse("admin:costs_cost_changelist"),
        {"action": "export_csv", "_selected_action": [c.pk for c in chosen]},
    )
    assert response.status_code == 200, _messages(response)
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    lines = body.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("id,")
    assert {line.split(",")[0] for line in lines[1:]} == {str(c.pk) for c in chosen}
    assert "not chosen" not in body
    # the same columns and values as the API's CSV of those costs
    api = fin_admin.get("/api/v1/costs/", {"format": "csv", "status": "pending"})
    api_lines = b"".join(api.streaming_content).decode().splitlines()
    wanted = {str(c.pk) for c in chosen}
    assert api_lines[0] == lines[0]
    assert {x for x in api_lines[1:] if x.split(",")[0] in wanted} == set(lines[1:])
