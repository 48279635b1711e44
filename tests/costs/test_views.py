"""The approval inbox and the cost detail page, as a signed-in user sees them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from costs import services
from costs.models import Cost, CostEvent
from costs.summary.check import summary_rebuild
from costs.views import INBOX_PAGE_SIZE
from orgunits import services as org_services
from tests.costs.factories import category, make_cost
from tests.orgunits.factories import UserFactory

pytestmark = pytest.mark.django_db

INBOX = "/approvals/"


def _client(client, user):
    client.force_login(user)
    return client


def _pending(org, **fields):
    """A pending cost by ``member`` on the resource (approver: res_owner)."""
    fields.setdefault("resource", org.resource)
    return make_cost(submitted_by=org.member, **fields)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _status(cost) -> str:
    return Cost.objects.values_list("status", flat=True).get(pk=cost.pk)


# --- inbox ----------------------------------------------------------------------------


def test_pages_need_a_login(client, org):
    cost = _pending(org)
    for url in (INBOX, f"/costs/{cost.pk}/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
    response = client.post(f"/approvals/{cost.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert _status(cost) == "pending"


def test_inbox_lists_the_costs_waiting_for_me_with_their_facts(client, org, eur_rates):
    cost = _pending(org, amount="120.50", currency="EUR", description="Database for api")
    other = make_cost(submitted_by=org.sales_member, organization_unit=org.sales)
    response = _client(client, org.res_owner).get(INBOX)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="cost-{cost.pk}"' in html
    assert "120.50 EUR" in html
    assert "144.60" in html  # 120.50 × 1.20 (the EUR rate from 2025-03-01)
    assert "Platform" in html and "db-1" in html and "Database for api" in html
    assert "Other" in html  # the default category
    assert org.member.get_full_name() in html
    assert "0 days" in html
    assert f'href="/costs/{cost.pk}/"' in html
    assert f'id="cost-{other.pk}"' not in html
    assert 'id="nav-approvals"' in html


def test_inbox_never_shows_my_own_costs_and_is_empty_for_others(client, org):
    _pending(org)
    html = _client(client, org.member).get(INBOX).content.decode()
    assert 'id="inbox-empty"' in html
    client.logout()
    html = _client(client, org.sales_owner).get(INBOX).content.decode()
    assert 'id="inbox-empty"' in html


def test_delegate_approver_member_and_finance_see_what_is_routed_to_them(client, org):
    today = timezone.localdate()
    cost = _pending(org)
    org_services.delegation_create(
        delegator=org.res_owner, delegate=org.delegate, start_date=today, end_date=today
    )
    unit_cost = make_cost(submitted_by=org.member, organization_unit=org.platform)
    html = _client(client, org.delegate).get(INBOX).content.decode()
    assert f'id="cost-{cost.pk}"' in html
    client.logout()
    html = _client(client, org.eng_approver).get(INBOX).content.decode()
    assert f'id="cost-{cost.pk}"' in html and f'id="cost-{unit_cost.pk}"' in html
    client.logout()
    # a cost with no owner left on the chain goes to finance
    orphan_unit = org_services.unit_create(name="Lab", code="lab")
    org_services.membership_set(user=org.sales_member, unit=orphan_unit, role="member")
    orphan = make_cost(submitted_by=org.sales_member, organization_unit=orphan_unit)
    assert orphan.approver_id is None
    html = _client(client, org.fin).get(INBOX).content.decode()
    assert f'id="cost-{orphan.pk}"' in html


def test_inbox_filters(client, org):
    """eng_approver decides for all of eng: costs on eng itself, on platform and on infra."""
    saas = category("saas")
    crm = services.category_create(name="CRM", slug="crm", parent=saas)
    infra = org_services.unit_create(name="Infra", code="infra", parent=org.eng)
    for stale in (org.eng, org.platform, org.resource):  # the tree write renumbered them
        stale.refresh_from_db()
    eng_member = UserFactory(username="eng_member")
    org_services.membership_set(user=eng_member, unit=org.eng, role="member")
    org_services.membership_set(user=eng_member, unit=infra, role="member")
    old = _pending(org, amount="900.00", description="Old big thing")
    Cost.objects.filter(pk=old.pk).update(submitted_at=timezone.now() - timedelta(days=10))
    small = _pending(org, amount="5.00", description="small coffee", category=saas)
    unit_cost = make_cost(
        submitted_by=org.member, organization_unit=org.platform, amount="50.00", description="x"
    )
    on_eng = make_cost(
        submitted_by=eng_member, organization_unit=org.eng, amount="100.00", description="eng"
    )
    on_infra = make_cost(
        submitted_by=eng_member,
        organization_unit=infra,
        amount="10.00",
        description="infra",
        category=crm,
    )
    Cost.objects.filter(pk=on_infra.pk).update(submitted_at=timezone.now() - timedelta(days=3))
    everything = {old.pk, small.pk, unit_cost.pk, on_eng.pk, on_infra.pk}
    _client(client, org.eng_approver)

    def shown(**params):
        html = client.get(INBOX, params).content.decode()
        return {
            c.pk for c in (old, small, unit_cost, on_eng, on_infra) if f'id="cost-{c.pk}"' in html
        }

    assert shown() == everything
    # a unit covers its subtree and nothing beside or above it
    assert shown(unit=org.eng.pk) == everything
    assert shown(unit=org.platform.pk) == {old.pk, small.pk, unit_cost.pk}
    assert shown(unit=infra.pk) == {on_infra.pk}
    # a category covers its subcategories and nothing else
    assert shown(category=saas.pk) == {small.pk, on_infra.pk}
    assert shown(category=crm.pk) == {on_infra.pk}
    assert shown(category=saas.pk, unit=org.platform.pk) == {small.pk}
    # amount bounds are inclusive and exclude what lies outside them
    assert shown(amount_min="10", amount_max="100") == {unit_cost.pk, on_eng.pk, on_infra.pk}
    assert shown(amount_min="50.00", amount_max="50.00") == {unit_cost.pk}
    assert shown(amount_min="100.01") == {old.pk}
    assert shown(amount_max="9.99") == {small.pk}
    assert shown(amount_min="900.01") == set()
    # age: waiting at least N days
    assert shown(age="2") == {old.pk, on_infra.pk}
    assert shown(age="7") == {old.pk}
    assert shown(age="11") == set()
    assert shown(q="COFFEE") == {small.pk}
    response = client.get(INBOX, {"amount_min": "100", "amount_max": "1"})
    assert "The upper bound is below the lower bound." in response.content.decode()
    assert shown(amount_min="100", amount_max="1") == set()


def test_inbox_with_100_pending_costs_runs_a_bounded_number_of_queries(
    client, org, django_assert_max_num_queries
):
    first = _pending(org, amount="1.00", description="cost 0")
    # 99 more rows like the first (written directly: only the page's queries matter here)
    Cost.objects.bulk_create(
        [
            Cost(
                amount=Decimal(i + 1),
                currency="USD",
                amount_reporting=Decimal(i + 1),
                incurred_on=first.incurred_on,
                category_id=first.category_id,
                description=f"cost {i}",
                resource=org.resource,
                entity=org.entity,
                organization_unit=org.platform,
                submitted_by=org.member,
                submitted_at=timezone.now(),
                approver=org.res_owner,
                status=Cost.Status.PENDING,
            )
            for i in range(1, 100)
        ]
    )
    summary_rebuild()  # rows written directly: the spend summary takes them in
    _client(client, org.res_owner)
    with django_assert_max_num_queries(14):
        response = client.get(INBOX)
    html = response.content.decode()
    assert html.count('class="decide"') == INBOX_PAGE_SIZE  # the first page of them
    assert "100 costs waiting." in html
    with django_assert_max_num_queries(14):
        last = client.get(INBOX, {"page": 2}).content.decode()
    assert last.count('class="decide"') == 100 - INBOX_PAGE_SIZE
    with django_assert_max_num_queries(14):
        response = client.get(INBOX, {"q": "cost 1", "category": category("other").pk})
    assert response.content.decode().count('class="decide"') == 11  # cost 1, 10..19


def test_approve_one_cost_with_a_comment(client, org):
    cost = _pending(org)
    response = _client(client, org.res_owner).post(
        f"/approvals/{cost.pk}/decide/",
        {"decision": "approve", "comment": "fine by me", "next": "/approvals/?q=x"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/approvals/?q=x"
    assert f"Cost #{cost.pk} approved." in _messages(response)
    cost = Cost.objects.get(pk=cost.pk)
    assert cost.status == "approved" and cost.decided_by == org.res_owner
    event = CostEvent.objects.get(cost=cost, action="approve")
    assert (event.actor, event.comment, event.to_status) == (
        org.res_owner,
        "fine by me",
        "approved",
    )
    assert f'id="cost-{cost.pk}"' not in client.get(INBOX).content.decode()


def test_reject_without_a_comment_is_allowed(client, org):
    cost = _pending(org)
    response = _client(client, org.res_owner).post(
        f"/approvals/{cost.pk}/decide/", {"decision": "reject"}
    )
    assert response.status_code == 302
    assert _status(cost) == "rejected"
    assert CostEvent.objects.filter(cost=cost, action="reject", comment="").count() == 1


def test_decide_refusals_are_reported_and_change_nothing(client, org):
    cost = _pending(org)
    # the submitter sees the cost but may not decide it
    response = _client(client, org.member).post(
        f"/approvals/{cost.pk}/decide/", {"decision": "approve"}
    )
    assert response.status_code == 302
    assert any("cannot decide a cost you submitted" in m for m in _messages(response))
    assert _status(cost) == "pending"
    # another unit's member does not even learn it exists
    client.logout()
    response = _client(client, org.sales_member).post(
        f"/approvals/{cost.pk}/decide/", {"decision": "approve"}
    )
    assert response.status_code == 404
    # a bad decision value
    client.logout()
    response = _client(client, org.res_owner).post(
        f"/approvals/{cost.pk}/decide/", {"decision": "maybe"}
    )
    assert response.status_code == 302
    assert _status(cost) == "pending"
    assert CostEvent.objects.filter(cost=cost).count() == 2  # create + submit
    # an open redirect is not followed
    response = client.post(
        f"/approvals/{cost.pk}/decide/",
        {"decision": "approve", "next": "https://evil.example.com/"},
    )
    assert response["Location"] == INBOX
    # deciding twice: the second is a conflict, reported
    response = client.post(f"/approvals/{cost.pk}/decide/", {"decision": "reject"})
    assert any("Cannot reject a cost that is approved" in m for m in _messages(response))
    assert _status(cost) == "approved"


def test_decide_needs_post_and_csrf(org):
    from django.test import Client

    cost = _pending(org)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(org.res_owner)
    assert strict.get(f"/approvals/{cost.pk}/decide/").status_code == 405
    response = strict.post(f"/approvals/{cost.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 403
    assert _status(cost) == "pending"


def test_bulk_approve_writes_one_event_per_cost_and_reports_the_rest(client, org):
    mine = [_pending(org, amount=f"{n}.00") for n in (1, 2, 3)]
    org_services.membership_set(user=org.res_owner, unit=org.platform, role="member")
    own = make_cost(submitted_by=org.res_owner, resource=org.resource)  # res_owner's own
    hidden = make_cost(submitted_by=org.sales_member, organization_unit=org.sales)
    ids = [c.pk for c in (*mine, own, hidden)]
    response = _client(client, org.res_owner).post(
        "/approvals/bulk/", {"costs": ids, "decision": "approve", "comment": "batch ok"}
    )
    assert response.status_code == 302
    msgs = _messages(response)
    assert any(m.startswith("3 cost(s) approved") for m in msgs)
    failure = next(m for m in msgs if "could not be approved" in m)
    assert f"#{own.pk}:" in failure and f"#{hidden.pk}: no such cost." in failure
    for cost in mine:
        assert _status(cost) == "approved"
        assert (
            CostEvent.objects.filter(cost=cost, action="approve", comment="batch ok").count() == 1
        )
    assert _status(own) == "pending" and _status(hidden) == "pending"


def test_bulk_reject_and_empty_selection(client, org):
    costs = [_pending(org) for _ in range(2)]
    _client(client, org.res_owner)
    response = client.post("/approvals/bulk/", {"decision": "reject", "comment": "no"})
    assert "Select at least one cost." in " ".join(_messages(response))
    response = client.post(
        "/approvals/bulk/", {"costs": [c.pk for c in costs], "decision": "reject", "comment": "no"}
    )
    assert all(_status(c) == "rejected" for c in costs)
    assert CostEvent.objects.filter(action="reject", comment="no").count() == 2


# --- detail ---------------------------------------------------------------------------


def test_detail_shows_the_audit_trail(client, org):
    cost = _pending(org, amount="10.00")
    services.cost_update(cost=cost, acting_user=org.member, amount=Decimal("12.00"), comment="typo")
    services.cost_approve(cost=cost, acting_user=org.res_owner, comment="thanks, approved")
    html = _client(client, org.member).get(f"/costs/{cost.pk}/").content.decode()
    assert "Approved" in html and "thanks, approved" in html
    assert "pending → approved" in html
    assert "amount</strong>: 10.00000000 → 12.00" in html
    assert "typo" in html
    for action in ("event-create", "event-submit", "event-edit", "event-approve"):
        assert action in html
    assert org.res_owner.get_full_name() in html


def test_detail_is_404_for_a_cost_i_may_not_see(client, org):
    cost = _pending(org)
    assert _client(client, org.sales_member).get(f"/costs/{cost.pk}/").status_code == 404
    assert client.get("/costs/999999/").status_code == 404
    client.logout()
    assert _client(client, org.aud).get(f"/costs/{cost.pk}/").status_code == 200


def test_detail_escapes_user_text(client, org):
    cost = _pending(org, description="<script>alert(1)</script>")
    services.cost_reject(cost=cost, acting_user=org.res_owner, comment="<b>no</b>")
    html = _client(client, org.member).get(f"/costs/{cost.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>no</b>" not in html and "&lt;b&gt;no&lt;/b&gt;" in html
    inbox_cost = _pending(org, description="<script>x()</script>")
    client.logout()
    html = _client(client, org.res_owner).get(INBOX).content.decode()
    assert f'id="cost-{inbox_cost.pk}"' in html and "<script>x()" not in html


def test_detail_offers_the_actions_the_user_may_take(client, org):
    cost = _pending(org)
    html = _client(client, org.res_owner).get(f"/costs/{cost.pk}/").content.decode()
    assert 'id="approve-form"' in html and 'id="reject-form"' in html
    assert 'id="void-form"' not in html and 'id="cancel-form"' not in html
    client.logout()
    html = _client(client, org.member).get(f"/costs/{cost.pk}/").content.decode()
    assert 'id="approve-form"' not in html and 'id="cancel-form"' in html
    client.logout()
    html = _client(client, org.aud).get(f"/costs/{cost.pk}/").content.decode()
    assert "Nothing for you to do" in html


def test_pages_let_an_auditor_who_owns_and_approves_change_nothing(client, org, imported):
    """The auditor owns the resource, is an approver member of eng and a member of platform:
    the pages offer nothing to do, and posting anyway changes nothing."""
    batch, owner = imported
    aud = org.aud
    org_services.membership_set(user=aud, unit=org.platform, role="member")
    org_services.membership_set(user=aud, unit=org.eng, role="approver")
    org.resource.owner = aud
    org.resource.save(update_fields=["owner"])
    cost = _pending(org)
    assert cost.approver != aud  # approver resolution skips auditors ...
    Cost.objects.filter(pk=cost.pk).update(approver=aud)  # ... routed before aud was one
    cost = Cost.objects.get(pk=cost.pk)
    own = _pending(org)
    Cost.objects.filter(pk=own.pk).update(submitted_by=aud)
    Cost.objects.filter(import_link__batch=batch).update(approver=aud)
    before = list(Cost.objects.order_by("pk").values("pk", "status"))
    events = CostEvent.objects.count()
    _client(client, aud)

    html = client.get(INBOX).content.decode()
    assert 'id="inbox-empty"' in html and f'id="import-{batch.pk}-' not in html
    for shown in (cost, own):
        html = client.get(f"/costs/{shown.pk}/").content.decode()
        assert "Nothing for you to do" in html
        for form in ("approve", "reject", "submit", "revise", "cancel", "void"):
            assert f'id="{form}-form"' not in html
    refused = "Auditors read everything and change nothing."
    for action, done in (("approve", "approved"), ("reject", "rejected"), ("cancel", "cancelled")):
        for target in (cost, own):
            response = client.post(f"/costs/{target.pk}/{action}/", {"comment": "x"}, follow=True)
            assert f"Cost #{target.pk} was not {done}: {refused}" in response.content.decode()
    response = client.post(f"/approvals/{cost.pk}/decide/", {"decision": "approve"}, follow=True)
    assert f"Cost #{cost.pk}: {refused}" in response.content.decode()
    response = client.post(
        "/approvals/bulk/", {"costs": [cost.pk], "decision": "approve"}, follow=True
    )
    assert f"1 cost(s) could not be approved: #{cost.pk}: {refused}" in response.content.decode()
    response = client.post(
        f"/approvals/imports/{batch.pk}/decide/",
        {"decision": "approve", "approver": aud.pk},
        follow=True,
    )
    assert response.status_code == 404  # nothing of an import waits for an auditor

    assert list(Cost.objects.order_by("pk").values("pk", "status")) == before
    assert CostEvent.objects.count() == events


def test_detail_approve_from_the_page(client, org):
    cost = _pending(org)
    response = _client(client, org.res_owner).post(
        f"/costs/{cost.pk}/approve/", {"comment": "ok from detail"}, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Cost #{cost.pk} approved." in html and "ok from detail" in html
    assert _status(cost) == "approved"


def test_submitter_submits_revises_and_cancels_from_the_page(client, org):
    draft = make_cost(submitted_by=org.member, resource=org.resource, status="draft")
    _client(client, org.member)
    client.post(f"/costs/{draft.pk}/submit/", {"comment": "please"})
    assert _status(draft) == "pending"
    services.cost_reject(cost=draft, acting_user=org.res_owner, comment="fix it")
    client.post(f"/costs/{draft.pk}/revise/")
    assert _status(draft) == "draft"
    client.post(f"/costs/{draft.pk}/cancel/", {"comment": "never mind"})
    assert _status(draft) == "cancelled"
    actions = list(CostEvent.objects.filter(cost=draft).values_list("action", flat=True))
    assert actions == ["create", "submit", "reject", "revise", "cancel"]
    # the approver may not cancel someone else's cost
    other = _pending(org)
    client.logout()
    response = _client(client, org.res_owner).post(f"/costs/{other.pk}/cancel/")
    assert any("Only the submitter or finance" in m for m in _messages(response))
    assert _status(other) == "pending"


def test_void_needs_finance_and_a_reason(client, org):
    cost = make_cost(submitted_by=org.member, resource=org.resource, status="approved")
    response = _client(client, org.res_owner).post(f"/costs/{cost.pk}/void/", {"reason": "dup"})
    assert any("Only finance staff may void" in m for m in _messages(response))
    assert _status(cost) == "approved"
    client.logout()
    _client(client, org.fin)
    html = client.get(f"/costs/{cost.pk}/").content.decode()
    assert 'id="void-form"' in html
    response = client.post(f"/costs/{cost.pk}/void/", {"reason": ""})
    assert any("This field is required." in m for m in _messages(response))
    assert _status(cost) == "approved"
    client.post(f"/costs/{cost.pk}/void/", {"reason": "duplicate of #1"})
    assert _status(cost) == "voided"
    event = CostEvent.objects.get(cost=cost, action="void")
    assert (event.actor, event.comment) == (org.fin, "duplicate of #1")


def test_unknown_action_is_404(client, org):
    cost = _pending(org)
    response = _client(client, org.res_owner).post(f"/costs/{cost.pk}/delete/")
    assert response.status_code == 404
    assert _status(cost) == "pending"


# --- imported bills, decided per import -----------------------------------------------


@pytest.fixture
def imported(db):
    """A GCP bill imported by finance into a unit whose owner approves it."""
    import io

    from costs.imports import services as import_services
    from tests.imports.conftest import sample_bytes
    from tests.orgunits.factories import OrganizationUnitFactory, UserFactory, finance_user

    owner = UserFactory(username="cloud-owner")
    unit = OrganizationUnitFactory(code="cloud", name="Cloud", owner=owner)
    batch = import_services.import_file(
        source=io.BytesIO(sample_bytes("gcp.csv")),
        file_name="gcp-march.csv",
        acting_user=finance_user(username="importer"),
        unit=unit,
    )
    return batch, owner


def test_imported_costs_are_grouped_per_import_and_decided_together(client, imported):
    batch, owner = imported
    costs = Cost.objects.filter(import_link__batch=batch)
    count = costs.count()
    assert count > 1 and set(costs.values_list("status", flat=True)) == {"pending"}
    html = _client(client, owner).get(INBOX).content.decode()
    assert f'id="import-{batch.pk}-{owner.pk}"' in html and "gcp-march.csv" in html
    assert f"Approve all {count}" in html
    assert not any(f'id="cost-{pk}"' in html for pk in costs.values_list("pk", flat=True))

    url = f"/approvals/imports/{batch.pk}/decide/"
    response = client.post(url, {"decision": "reject", "approver": owner.pk})
    assert any("Say why you reject" in m for m in _messages(response))
    assert set(costs.values_list("status", flat=True)) == {"pending"}
    response = client.post(
        url, {"decision": "approve", "approver": owner.pk, "comment": "March bill"}
    )
    assert f"{count} imported cost(s) of gcp-march.csv approved." in _messages(response)
    assert set(costs.values_list("status", flat=True)) == {"approved"}
    assert CostEvent.objects.filter(cost__in=costs, action="approve").count() == count
    html = client.get(INBOX).content.decode()
    assert f'id="import-{batch.pk}-' not in html


def test_import_decision_is_404_for_someone_it_does_not_wait_for(client, org, imported):
    batch, owner = imported
    response = _client(client, org.sales_owner).post(
        f"/approvals/imports/{batch.pk}/decide/", {"decision": "approve", "approver": owner.pk}
    )
    assert response.status_code == 404
    assert not Cost.objects.filter(import_link__batch=batch).exclude(status="pending").exists()


def test_detail_runs_a_bounded_number_of_queries(client, org, django_assert_max_num_queries):
    cost = _pending(org, amount="1.00")
    for n in range(2, 32):
        cost = services.cost_update(
            cost=cost, acting_user=org.member, amount=Decimal(f"{n}.00"), comment=f"edit {n}"
        ).cost
    _client(client, org.res_owner)
    with django_assert_max_num_queries(10):
        response = client.get(f"/costs/{cost.pk}/")
    html = response.content.decode()
    assert html.count('class="event-edit"') == 30
    assert "edit 31" in html and 'id="approve-form"' in html
