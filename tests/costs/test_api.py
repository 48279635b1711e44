import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from costs.models import Cost, CostCategory, CostEvent, ExchangeRate, IdempotencyKey
from orgunits import services as org_services
from tests.costs.factories import category, clone_costs, make_cost
from tests.orgunits.factories import ResourceFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/costs/"


def payload(org, **kw):
    data = {
        "amount": "120.50",
        "currency": "USD",
        "incurred_on": "2025-03-10",
        "organization_unit": org.platform.pk,
        "description": "load balancer",
        "tags": {"env": "prod"},
    }
    data.update(kw)
    return data


def counts():
    return Cost.objects.count(), CostEvent.objects.count(), IdempotencyKey.objects.count()


# --- create ----------------------------------------------------------------------------


def test_create_pending_returns_cost_and_warnings(org, client_for):
    response = client_for(org.member).post(URL, payload(org), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["warnings"] == []
    assert body["amount"] == "120.50"
    assert body["source"] == "api"
    assert body["approver"]["username"] == "eng_owner"
    assert body["submitted_by"]["username"] == "member"
    assert [h["action"] for h in body["history"]] == ["create", "submit"]


def test_create_draft(org, client_for):
    response = client_for(org.member).post(URL, payload(org, draft=True), format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "draft"


def test_create_with_category_slug_and_resource_only(org, client_for):
    compute = category("compute")
    response = client_for(org.member).post(
        URL,
        {
            "amount": "3",
            "currency": "usd",
            "incurred_on": "2025-03-10",
            "resource": org.resource.pk,
            "category": "compute",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["category"] == compute.pk and body["organization_unit"] == org.platform.pk
    assert body["currency"] == "USD"
    assert body["approver"]["username"] == "res_owner"


def test_submission_warnings_are_returned(org, client_for, monkeypatch):
    from costs import extensions

    def warn(*, cost, acting_user, override_reason):
        return [{"budget_id": 1, "name": "Cloud", "budget_utilization_pct": "95.00"}]

    monkeypatch.setattr(extensions, "_submission_checks", [warn])
    response = client_for(org.member).post(URL, payload(org), format="json")
    assert response.status_code == 201
    assert response.json()["warnings"] == [
        {"budget_id": 1, "name": "Cloud", "budget_utilization_pct": "95.00"}
    ]


def test_refused_submission_is_403_with_details(org, client_for, monkeypatch):
    from costs import extensions
    from costtrack.core.exceptions import PermissionDenied

    def block(*, cost, acting_user, override_reason):
        raise PermissionDenied(
            "Budget exceeded.", code="budget_exceeded", extra={"budgets": [{"budget_id": 1}]}
        )

    monkeypatch.setattr(extensions, "_submission_checks", [block])
    response = client_for(org.member).post(URL, payload(org), format="json")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Budget exceeded.",
        "code": "budget_exceeded",
        "budgets": [{"budget_id": 1}],
    }
    assert counts() == (0, 0, 0)


def test_idempotency_key_returns_first_cost(org, client_for):
    client = client_for(org.member)
    first = client.post(URL, payload(org), format="json", HTTP_IDEMPOTENCY_KEY="abc")
    second = client.post(
        URL, payload(org, amount="1.00"), format="json", HTTP_IDEMPOTENCY_KEY="abc"
    )
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["amount"] == "120.50"
    assert counts() == (1, 2, 1)


def far_future():
    return (timezone.localdate() + timedelta(days=400)).isoformat()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"currency": "XYZ"}, "currency", "Unknown currency"),
        ({"amount": "10.001"}, "amount", "at most 2 decimal"),
        ({"currency": "JPY", "amount": "10.5"}, "amount", "at most 0 decimal"),
        ({"amount": "NaN"}, "amount", "finite"),
        ({"amount": "Infinity"}, "amount", "finite"),
        ({"amount": "-Infinity"}, "amount", "finite"),
        ({"amount": "1000000000000"}, "amount", "10^12"),
        ({"amount": "-1000000000000"}, "amount", "10^12"),
        ({"amount": "abc"}, "amount", "valid decimal"),
        ({"amount": "-5.00", "kind": "charge"}, "amount", "negative"),
        ({"url": "javascript:alert(1)"}, "url", "http"),
        ({"url": "ftp://files.example.com/invoice.pdf"}, "url", "http"),
        ({"metadata": ["a", "b"]}, "metadata", "JSON object"),
        ({"metadata": "text"}, "metadata", "JSON object"),
        ({"metadata": {"blob": "x" * 17000}}, "metadata", "limit"),
        ({"organization_unit": None}, "organization_unit", "resource, an entity"),
        ({"organization_unit": 999999}, "organization_unit", "does not exist"),
        ({"incurred_on": "1969-12-31"}, "incurred_on", "1970"),
        ({"incurred_on": "far-future"}, "incurred_on", "one year"),
        ({"tags": {"env": 5}}, "tags", "string"),
        ({"category": "no-such-category"}, "category", "does not exist"),
        ({"currency": "EUR"}, "currency", "No exchange rate for EUR on or before 2025-03-10"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(
    org, client_for, change, field, message
):
    if change.get("incurred_on") == "far-future":
        change = {"incurred_on": far_future()}
    response = client_for(org.member).post(URL, payload(org, **change), format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert field in body, body
    assert message in " ".join(body[field]), body
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_as_bare_json_number_is_refused_by_the_parser(org, client_for, literal):
    raw = json.dumps(payload(org)).replace('"120.50"', literal)
    response = client_for(org.member).post(URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert literal in response.json()["detail"]
    assert counts() == (0, 0, 0)


@pytest.mark.parametrize("field", ["resource", "entity", "organization_unit"])
def test_other_units_objects_look_unknown(org, client_for, field):
    from tests.orgunits.factories import EntityFactory

    foreign = {
        "resource": ResourceFactory(organization_unit=org.sales),
        "entity": EntityFactory(organization_unit=org.sales),
        "organization_unit": org.sales,
    }[field]
    response = client_for(org.member).post(
        URL, payload(org, **{"organization_unit": None, field: foreign.pk}), format="json"
    )
    assert response.status_code == 400
    assert response.json()[field] == [f'Invalid pk "{foreign.pk}" - object does not exist.']
    unknown = client_for(org.member).post(
        URL, payload(org, **{"organization_unit": None, field: 987654}), format="json"
    )
    assert unknown.json()[field] == ['Invalid pk "987654" - object does not exist.']
    assert counts() == (0, 0, 0)


# --- permission matrix -----------------------------------------------------------------

ROLES = ["submitter", "approver", "delegate", "other_unit", "auditor", "finance"]


@pytest.fixture
def matrix(org):
    today = timezone.localdate()
    org_services.delegation_create(
        delegator=org.eng_owner, delegate=org.delegate, start_date=today, end_date=today
    )
    users = {
        "submitter": org.member,
        "approver": org.eng_owner,
        "delegate": org.delegate,
        "other_unit": org.sales_member,
        "auditor": org.aud,
        "finance": org.fin,
    }
    return users


def pending(org):
    return make_cost(status="pending", submitted_by=org.member, organization_unit=org.platform)


LIST_DETAIL = {
    "submitter": 200,
    "approver": 200,
    "delegate": 200,
    "other_unit": 404,
    "auditor": 200,
    "finance": 200,
}
DECIDE = {
    "submitter": 403,
    "approver": 200,
    "delegate": 200,
    "other_unit": 404,
    "auditor": 403,
    "finance": 200,
}
VOID = {
    "submitter": 403,
    "approver": 403,
    "delegate": 403,
    "other_unit": 404,
    "auditor": 403,
    "finance": 200,
}
DELETE = {
    "submitter": 200,
    "approver": 403,
    "delegate": 403,
    "other_unit": 404,
    "auditor": 403,
    "finance": 200,
}
# POST /costs/ into the platform unit (member's unit; eng_owner owns its parent). The delegate
# and the sales member belong to no unit above it: to them the unit does not exist.
CREATE = {
    "submitter": 201,
    "approver": 201,
    "delegate": 400,
    "other_unit": 400,
    "auditor": 403,
    "finance": 201,
}
# PATCH /costs/{id}/ of the member's pending cost: its submitter and finance edit it.
EDIT = {
    "submitter": 200,
    "approver": 403,
    "delegate": 403,
    "other_unit": 404,
    "auditor": 403,
    "finance": 200,
}


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(org, matrix, client_for, role):
    """One role against create, list, detail, edit, approve, reject, void and delete (fresh
    costs each)."""
    client = client_for(matrix[role])

    before = counts()
    response = client.post(URL, payload(org, description=f"made by {role}"), format="json")
    assert response.status_code == CREATE[role], response.json()
    made = Cost.objects.filter(description=f"made by {role}")
    if CREATE[role] == 201:
        assert response.json()["submitted_by"]["username"] == matrix[role].username
        assert made.get().organization_unit == org.platform
    else:
        assert not made.exists() and counts() == before
    if CREATE[role] == 400:
        assert response.json() == {
            "organization_unit": [f'Invalid pk "{org.platform.pk}" - object does not exist.']
        }
    if CREATE[role] == 403:
        assert response.json() == {
            "detail": "Auditors read everything and change nothing.",
            "code": "read_only",
        }

    cost = pending(org)
    ids = [row["id"] for row in client.get(URL).json()["results"]]
    assert (cost.pk in ids) is (LIST_DETAIL[role] == 200)
    detail = client.get(f"{URL}{cost.pk}/")
    assert detail.status_code == LIST_DETAIL[role]
    if detail.status_code == 404:
        assert "amount" not in detail.json()

    cost = pending(org)
    response = client.patch(f"{URL}{cost.pk}/", {"description": "edited"}, format="json")
    assert response.status_code == EDIT[role], response.json()
    edits = CostEvent.objects.filter(cost=cost, action="edit")
    if EDIT[role] == 200:
        assert response.json()["description"] == "edited"
        assert edits.get().changes == {"description": ["", "edited"]}
        assert edits.get().actor == matrix[role]
    else:
        assert Cost.objects.get(pk=cost.pk).description == "" and not edits.exists()
    if EDIT[role] == 403:
        assert set(response.json()) == {"detail", "code"}

    for verb, decided in (("approve", "approved"), ("reject", "rejected")):
        cost = pending(org)
        response = client.post(f"{URL}{cost.pk}/{verb}/", {"comment": "c"})
        assert response.status_code == DECIDE[role], (verb, response.json())
        expected = decided if DECIDE[role] == 200 else "pending"
        assert Cost.objects.get(pk=cost.pk).status == expected
        if response.status_code == 403:
            assert set(response.json()) == {"detail", "code"}

    cost = make_cost(status="approved", submitted_by=org.member, organization_unit=org.platform)
    response = client.post(f"{URL}{cost.pk}/void/", {"reason": "duplicate"})
    assert response.status_code == VOID[role]
    expected = "voided" if VOID[role] == 200 else "approved"
    assert Cost.objects.get(pk=cost.pk).status == expected

    cost = pending(org)
    response = client.delete(f"{URL}{cost.pk}/")
    assert response.status_code == DELETE[role]
    expected = "cancelled" if DELETE[role] == 200 else "pending"
    assert Cost.objects.get(pk=cost.pk).status == expected
    if response.status_code == 200:
        assert response.json()["status"] == "cancelled"


def test_an_auditor_who_is_also_member_finance_and_approver_changes_nothing(
    org, client_for, eur_rates
):
    """Auditors read everything and change nothing, whatever other role they hold."""
    from django.contrib.auth.models import Group

    aud = org.aud
    aud.groups.add(Group.objects.get(name="finance"))
    org_services.membership_set(user=aud, unit=org.platform, role="member")
    org_services.membership_set(user=aud, unit=org.eng, role="approver")
    client = client_for(type(aud).objects.get(pk=aud.pk))
    waiting = pending(org)
    approved = make_cost(status="approved", submitted_by=org.member, organization_unit=org.platform)
    rate = ExchangeRate.objects.get(currency="GBP")
    saas = category("saas")
    before = counts(), list(ExchangeRate.objects.values()), list(CostCategory.objects.values())

    responses = {
        "create": client.post(URL, payload(org), format="json"),
        "draft": client.post(URL, payload(org, draft=True), format="json"),
        "edit": client.patch(f"{URL}{waiting.pk}/", {"description": "x"}, format="json"),
        "patch approve": client.patch(f"{URL}{waiting.pk}/", {"action": "approve"}),
        "approve": client.post(f"{URL}{waiting.pk}/approve/", {"comment": "ok"}),
        "reject": client.post(f"{URL}{waiting.pk}/reject/", {"comment": "no"}),
        "cancel": client.post(f"{URL}{waiting.pk}/cancel/"),
        "delete": client.delete(f"{URL}{waiting.pk}/"),
        "void": client.post(f"{URL}{approved.pk}/void/", {"reason": "duplicate"}),
        "category create": client.post("/api/v1/categories/", {"name": "GPU", "slug": "gpu"}),
        "category edit": client.patch(f"/api/v1/categories/{saas.pk}/", {"name": "X"}),
        "category delete": client.delete(f"/api/v1/categories/{saas.pk}/"),
        "rate create": client.post(
            "/api/v1/exchange-rates/", {"currency": "CHF", "date": "2025-01-01", "rate": "1.1"}
        ),
        "rate edit": client.patch(f"/api/v1/exchange-rates/{rate.pk}/", {"rate": "2"}),
        "rate delete": client.delete(f"/api/v1/exchange-rates/{rate.pk}/"),
    }

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 403)
    codes = {name: r.json()["code"] for name, r in responses.items()}
    assert set(codes.values()) == {"read_only"}, [k for k, v in codes.items() if v != "read_only"]
    after = counts(), list(ExchangeRate.objects.values()), list(CostCategory.objects.values())
    assert after == before
    assert Cost.objects.get(pk=waiting.pk).status == "pending"
    assert Cost.objects.get(pk=approved.pk).status == "approved"
    assert client.get(f"{URL}{waiting.pk}/").status_code == 200  # still reads everything


# --- transitions over the API ----------------------------------------------------------


def test_patch_action_approve_and_then_conflict(org, client_for):
    cost = pending(org)
    client = client_for(org.eng_owner)
    response = client.patch(f"{URL}{cost.pk}/", {"action": "approve", "comment": "ok"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved" and body["decision_comment"] == "ok"
    assert body["history"][-1]["action"] == "approve"
    assert body["history"][-1]["actor"]["username"] == "eng_owner"
    again = client.patch(f"{URL}{cost.pk}/", {"action": "reject"})
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"
    assert set(again.json()) == {"detail", "code"}


def test_patch_bad_action(org, client_for):
    cost = pending(org)
    response = client_for(org.eng_owner).patch(f"{URL}{cost.pk}/", {"action": "explode"})
    assert response.status_code == 400 and "action" in response.json()


def test_patch_edit_writes_edit_event(org, client_for, eur_rates):
    cost = pending(org)
    response = client_for(org.member).patch(
        f"{URL}{cost.pk}/", {"amount": "50.00", "currency": "EUR", "comment": "typo"}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["amount_reporting"] == "60.00000000"  # 50 EUR at 1.20
    edit = body["history"][-1]
    assert edit["action"] == "edit" and edit["comment"] == "typo"
    assert edit["changes"]["currency"] == ["USD", "EUR"]


def test_patch_edit_bad_input_writes_nothing(org, client_for):
    cost = pending(org)
    before = CostEvent.objects.count()
    response = client_for(org.member).patch(f"{URL}{cost.pk}/", {"amount": "1.234"})
    assert response.status_code == 400 and "amount" in response.json()
    response = client_for(org.member).patch(f"{URL}{cost.pk}/", {"url": "ftp://x.example"})
    assert response.status_code == 400 and "url" in response.json()
    assert CostEvent.objects.count() == before
    assert Cost.objects.get(pk=cost.pk).amount == Decimal("100.00")


def test_submit_revise_cancel_endpoints(org, client_for):
    client = client_for(org.member)
    cost_id = client.post(URL, payload(org, draft=True), format="json").json()["id"]
    response = client.post(f"{URL}{cost_id}/submit/")
    assert response.status_code == 200 and response.json()["status"] == "pending"
    assert response.json()["warnings"] == []
    assert client.post(f"{URL}{cost_id}/submit/").status_code == 409
    client_for(org.eng_owner).post(f"{URL}{cost_id}/reject/", {"comment": "no"})
    response = client.post(f"{URL}{cost_id}/revise/")
    assert response.json()["status"] == "draft"
    assert client.post(f"{URL}{cost_id}/cancel/").json()["status"] == "cancelled"


def test_delete_approved_is_409(org, client_for):
    cost = make_cost(status="approved", submitted_by=org.member, organization_unit=org.platform)
    response = client_for(org.member).delete(f"{URL}{cost.pk}/")
    assert response.status_code == 409
    assert Cost.objects.get(pk=cost.pk).status == "approved"


def test_void_requires_reason(org, client_for):
    cost = make_cost(status="approved", submitted_by=org.member, organization_unit=org.platform)
    response = client_for(org.fin).post(f"{URL}{cost.pk}/void/", {})
    assert response.status_code == 400 and "reason" in response.json()


def _routes(patterns=None, prefix=""):
    from django.urls import URLResolver, get_resolver

    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def test_no_route_changes_cost_events(org, client_for):
    """The real cost routes, sent a forged ``history``, leave the stored events as they were;
    the only new rows are the events of what the request legitimately did."""
    event_routes = [
        route
        for route in _routes()
        if not route.startswith("admin/") and ("event" in route or "histor" in route)
    ]
    # no API or page route addresses events (the admin's are view-only, see test_admin):
    # the trail is only read, as the detail's ``history``
    assert event_routes == []

    cost = pending(org)
    snapshot = list(CostEvent.objects.filter(cost=cost).order_by("pk").values())
    assert [e["action"] for e in snapshot] == ["create", "submit"]
    forged = [
        {
            "id": event["id"],
            "action": "approve",
            "to_status": "approved",
            "actor": org.fin.pk,
            "comment": "forged",
            "changes": {"amount": ["1", "2"]},
        }
        for event in snapshot
    ]
    member, fin = client_for(org.member), client_for(org.fin)
    detail = f"{URL}{cost.pk}/"

    put = fin.put(detail, {**payload(org), "history": forged}, format="json")
    assert put.status_code == 405
    only_history = member.patch(detail, {"history": forged}, format="json")
    assert only_history.status_code == 200
    assert [h["action"] for h in only_history.json()["history"]] == ["create", "submit"]
    suffixed = fin.patch(f"{URL}{cost.pk}.json", {"history": forged}, format="json")
    assert suffixed.status_code == 200
    edit = fin.patch(detail, {"history": forged, "description": "x"}, format="json")
    assert edit.status_code == 200
    assert [h["action"] for h in edit.json()["history"]] == ["create", "submit", "edit"]
    cancel = member.delete(detail, {"history": forged, "comment": "bye"}, format="json")
    assert cancel.status_code == 200
    created = member.post(URL, payload(org, history=forged), format="json")
    assert created.status_code == 201
    assert [h["action"] for h in created.json()["history"]] == ["create", "submit"]
    approved = client_for(org.eng_owner).post(
        f"{URL}{created.json()['id']}/approve/", {"history": forged}, format="json"
    )
    assert approved.status_code == 200

    stored = CostEvent.objects.filter(pk__in=[e["id"] for e in snapshot]).order_by("pk")
    assert list(stored.values()) == snapshot
    trail = CostEvent.objects.filter(cost=cost).order_by("pk")
    assert [(e.action, e.actor) for e in trail] == [
        ("create", org.member),
        ("submit", org.member),
        ("edit", org.fin),
        ("cancel", org.member),
    ]
    assert not CostEvent.objects.filter(comment="forged").exists()
    assert CostEvent.objects.count() == 4 + 3  # the new cost: create, submit, approve


# --- list and filters ------------------------------------------------------------------


@pytest.fixture
def costs(org, eur_rates):
    from costs.services import category_create

    compute = category("compute")
    gpu = category_create(name="GPU", slug="gpu", parent=compute)
    gcp = ResourceFactory(provider="gcp", organization_unit=org.platform, owner=org.res_owner)
    org_services.membership_set(user=org.member, unit=org.sales, role="member")
    made = {
        "a": make_cost(
            status="approved",
            submitted_by=org.member,
            organization_unit=org.platform,
            category=gpu,
            tags={"env": "prod", "team": "x"},
            incurred_on=date(2025, 1, 5),
        ),
        "b": make_cost(
            status="pending",
            submitted_by=org.member,
            resource=org.resource,
            amount="10.00",
            currency="EUR",
            tags={"env": "dev"},
            incurred_on=date(2025, 2, 5),
        ),
        "c": make_cost(
            status="pending",
            submitted_by=org.member,
            resource=gcp,
            category=compute,
            incurred_on=date(2025, 3, 5),
            tags={"env": "prod"},
        ),
        "d": make_cost(
            status="draft",
            submitted_by=org.member,
            organization_unit=org.sales,
            entity=None,
            incurred_on=date(2025, 4, 5),
        ),
        "e": make_cost(
            status="pending",
            submitted_by=org.eng_owner,
            organization_unit=org.eng,
            incurred_on=date(2025, 5, 5),
        ),
    }
    return made


def ids(response):
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


FILTER_CASES = [
    ("", "abcde"),
    ("?status=pending", "bce"),
    ("?status=pending,draft", "bcde"),
    ("?status=pending&status=approved", "abce"),
    ("?organization_unit={platform}", "abc"),
    ("?organization_unit={eng}", "e"),
    ("?organization_unit={eng}&include_descendants=true", "abce"),
    ("?resource={resource}", "b"),
    ("?entity={entity}", "b"),  # b's resource belongs to the entity
    ("?category=compute", "ac"),
    ("?category=gpu", "a"),
    ("?currency=eur", "b"),
    ("?provider=gcp", "c"),
    ("?provider=aws", "b"),
    ("?incurred_after=2025-02-01&incurred_before=2025-03-31", "bc"),
    ("?incurred_on__gte=2025-04-01", "de"),
    ("?submitted_by={eng_owner}", "e"),
    ("?tags=env:prod", "ac"),
    ("?tags=env:prod&tags=team:x", "a"),
    ("?tags=env:nope", ""),
]


def test_filters(org, costs, client_for):
    client = client_for(org.fin)
    for query, expected in FILTER_CASES:
        query = query.format(
            platform=org.platform.pk,
            eng=org.eng.pk,
            resource=org.resource.pk,
            entity=org.entity.pk,
            eng_owner=org.eng_owner.pk,
        )
        assert ids(client.get(URL + query)) == {costs[k].pk for k in expected}, query


def test_submitted_by_me(org, costs, client_for):
    expected = {costs[k].pk for k in "abcd"}
    assert ids(client_for(org.member).get(URL + "?submitted_by=me")) == expected
    assert ids(client_for(org.fin).get(URL + "?submitted_by=me")) == set()


def test_approver_me(org, costs, client_for):
    # a is approved; b and c go to the resource owner; e was submitted by eng_owner
    assert ids(client_for(org.eng_owner).get(URL + "?approver=me&status=pending")) == set()
    assert ids(client_for(org.eng_owner).get(URL + "?approver=me")) == {costs["a"].pk}
    assert ids(client_for(org.res_owner).get(URL + "?approver=me")) == {
        costs["b"].pk,
        costs["c"].pk,
    }
    assert ids(client_for(org.ceo).get(URL + "?approver=me")) == {costs["e"].pk}
    assert ids(client_for(org.eng_approver).get(URL + "?approver=me&status=pending")) == {
        costs["b"].pk,
        costs["c"].pk,
        costs["e"].pk,
    }


def test_bad_filter_values(org, costs, client_for):
    client = client_for(org.fin)
    assert client.get(URL + "?status=bogus").status_code == 400
    assert client.get(URL + "?tags=novalue").status_code == 400
    assert client.get(URL + "?incurred_after=yesterday").status_code == 400


def test_ordering_and_pagination(org, costs, client_for):
    client = client_for(org.fin)
    rows = client.get(URL + "?ordering=incurred_on&limit=2").json()
    assert rows["count"] == 5
    assert [r["id"] for r in rows["results"]] == [costs["a"].pk, costs["b"].pk]
    assert rows["next"] is not None


def test_member_of_a_unit_sees_its_subtree_costs(org, costs, client_for):
    assert ids(client_for(org.sales_member).get(URL)) == {costs["d"].pk}
    assert ids(client_for(org.ceo).get(URL)) == {c.pk for c in costs.values()}


def test_list_of_100_costs_runs_bounded_queries(org, client_for, django_assert_max_num_queries):
    clone_costs(pending(org), 99)
    client = client_for(org.member)
    with django_assert_max_num_queries(10):
        response = client.get(URL + "?limit=100")
    assert len(response.json()["results"]) == 100
    with django_assert_max_num_queries(10):
        response = client_for(org.eng_owner).get(URL + "?approver=me&status=pending&limit=100")
    assert len(response.json()["results"]) == 100


def test_detail_runs_bounded_queries(org, client_for, django_assert_max_num_queries):
    cost = pending(org)
    cost = make_cost(status="rejected", submitted_by=org.member, organization_unit=org.platform)
    with django_assert_max_num_queries(10):
        response = client_for(org.member).get(f"{URL}{cost.pk}/")
    assert [h["action"] for h in response.json()["history"]] == ["create", "submit", "reject"]


# --- categories and exchange rates -----------------------------------------------------


def test_categories_read_by_all_written_by_finance(org, client_for):
    rows = client_for(org.member).get("/api/v1/categories/?limit=100").json()["results"]
    by_slug = {r["slug"]: r for r in rows}
    assert by_slug["compute"]["path"] == "Expenses:Cloud:Compute"
    assert by_slug["compute"]["dimension"] == "compute"
    defaults = {
        "compute", "storage", "network", "database", "api_calls", "llm_inference",
        "llm_embedding", "llm_fine_tuning", "license", "saas", "labor", "other",
    }  # fmt: skip
    assert defaults <= set(by_slug)
    response = client_for(org.member).post("/api/v1/categories/", {"name": "X", "slug": "x"})
    assert response.status_code == 403
    response = client_for(org.fin).post(
        "/api/v1/categories/", {"name": "GPU", "slug": "gpu", "parent": by_slug["compute"]["id"]}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["path"] == "Expenses:Cloud:Compute:GPU"
    gpu_id = response.json()["id"]
    response = client_for(org.fin).patch(f"/api/v1/categories/{gpu_id}/", {"name": "GPUs"})
    assert response.json()["path"] == "Expenses:Cloud:Compute:GPUs"


def test_category_in_use_cannot_be_deleted(org, client_for):
    make_cost(submitted_by=org.member, organization_unit=org.platform, category=category("saas"))
    saas = CostCategory.objects.get(slug="saas")
    response = client_for(org.fin).delete(f"/api/v1/categories/{saas.pk}/")
    assert response.status_code == 409
    compute = CostCategory.objects.get(slug="cloud")
    assert client_for(org.fin).delete(f"/api/v1/categories/{compute.pk}/").status_code == 409


def test_exchange_rates_finance_writes_and_reconversion(
    org, client_for, django_capture_on_commit_callbacks
):
    ExchangeRate.objects.create(currency="EUR", date=date(2025, 1, 1), rate=Decimal("1.10"))
    cost = make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        currency="EUR",
        amount="100.00",
        incurred_on=date(2025, 3, 10),
    )
    assert cost.amount_reporting == Decimal("110.00")
    response = client_for(org.member).post(
        "/api/v1/exchange-rates/", {"date": "2025-03-01", "currency": "EUR", "rate": "1.2"}
    )
    assert response.status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(org.fin).post(
            "/api/v1/exchange-rates/", {"date": "2025-03-01", "currency": "EUR", "rate": "1.2"}
        )
    assert response.status_code == 201, response.json()
    cost.refresh_from_db(fields=["amount_reporting", "exchange_rate"])
    assert cost.amount_reporting == Decimal("120.00")
    assert CostEvent.objects.filter(cost=cost, action="reconvert").count() == 1
    rows = client_for(org.member).get("/api/v1/exchange-rates/?currency=eur").json()["results"]
    assert [r["date"] for r in rows] == ["2025-03-01", "2025-01-01"]
    bad = client_for(org.fin).post(
        "/api/v1/exchange-rates/", {"date": "2025-03-01", "currency": "USD", "rate": "1"}
    )
    assert bad.status_code == 400 and "currency" in bad.json()
    bad = client_for(org.fin).post(
        "/api/v1/exchange-rates/", {"date": "2025-03-01", "currency": "EUR", "rate": "-1"}
    )
    assert bad.status_code == 400 and "rate" in bad.json()


def test_overlong_idempotency_key_is_400(org, client_for):
    response = client_for(org.member).post(
        URL, payload(org), format="json", HTTP_IDEMPOTENCY_KEY="k" * 256
    )
    assert response.status_code == 400
    assert "idempotency_key" in response.json()
    assert counts() == (0, 0, 0)


def test_exchange_rate_patch_and_delete_reconvert(
    org, client_for, django_capture_on_commit_callbacks
):
    ExchangeRate.objects.create(currency="EUR", date=date(2025, 1, 1), rate=Decimal("1.10"))
    cost = make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        currency="EUR",
        amount="100.00",
        incurred_on=date(2025, 3, 10),
    )
    newer = ExchangeRate.objects.create(currency="EUR", date=date(2025, 3, 1), rate=Decimal("1.20"))
    client = client_for(org.fin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch(f"/api/v1/exchange-rates/{newer.pk}/", {"rate": "1.25"})
    assert response.status_code == 200, response.json()
    cost.refresh_from_db(fields=["amount_reporting"])
    assert cost.amount_reporting == Decimal("125.00")
    assert client_for(org.member).delete(f"/api/v1/exchange-rates/{newer.pk}/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/v1/exchange-rates/{newer.pk}/").status_code == 204
    cost.refresh_from_db(fields=["amount_reporting"])
    assert cost.amount_reporting == Decimal("110.00")
    assert CostEvent.objects.filter(cost=cost, action="reconvert").count() == 2


def test_leaf_category_delete(org, client_for):
    response = client_for(org.fin).post("/api/v1/categories/", {"name": "Tmp", "slug": "tmp"})
    category_id = response.json()["id"]
    assert client_for(org.member).delete(f"/api/v1/categories/{category_id}/").status_code == 403
    assert client_for(org.fin).delete(f"/api/v1/categories/{category_id}/").status_code == 204
    assert not CostCategory.objects.filter(pk=category_id).exists()


def test_reconvert_task_by_name(org, eur_rates):
    from costs.tasks import reconvert_costs

    cost = make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        currency="EUR",
        amount="10.00",
        incurred_on=date(2025, 3, 10),
    )
    ExchangeRate.objects.filter(currency="EUR", date=date(2025, 3, 1)).update(rate=Decimal("2"))
    assert reconvert_costs.name == "costs.reconvert_costs"
    assert reconvert_costs.delay(currency="EUR", since="2025-03-01").get() == 1
    cost.refresh_from_db(fields=["amount_reporting"])
    assert cost.amount_reporting == Decimal("20.00")
