"""The budgets API per role: finance manages, unit people read their units', others 404."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from budgets.models import Budget, BudgetAlert, BudgetRevision
from tests.budgets.factories import BudgetFactory
from tests.costs.factories import CostCategoryFactory, make_cost

pytestmark = pytest.mark.django_db
URL = "/api/v1/budgets/"
MARCH = date(2025, 3, 15)


def payload(org, **over):
    data = {
        "name": "Platform cloud",
        "amount": "5000.00",
        "currency": "EUR",
        "period": "quarterly",
        "organization_unit": org.platform.pk,
        "action": "block",
        "alert_thresholds": ["0.5", "0.8", "1"],
    }
    data.update(over)
    return data


def test_finance_creates_budget_and_reads_it_with_utilisation(org, client_for):
    resp = client_for(org.fin).post(URL, payload(org), format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["slug"] == "platform-cloud"
    assert body["amount"] == "5000.00"
    assert body["currency"] == "EUR"
    assert body["alert_thresholds"] == ["0.5", "0.8", "1"]
    assert body["created_by"] == "fin"
    assert body["utilization"]["spent"] == "0.00"
    assert body["utilization"]["remaining"] == "5000.00"
    assert "reason" not in body
    assert Budget.objects.get().created_by == org.fin


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"amount": "-1"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"currency": "ZZZ"}, "currency"),
        ({"alert_thresholds": ["0"]}, "alert_thresholds"),
        ({"alert_thresholds": ["2.01"]}, "alert_thresholds"),
        ({"alert_thresholds": ["-0.5"]}, "alert_thresholds"),
        ({"period": "custom"}, "start_date"),
        ({"period": "custom", "start_date": "2025-03-10"}, "end_date"),
        ({"period": "custom", "start_date": "2025-03-10", "end_date": "2025-03-01"}, "end_date"),
        ({"period": "fortnightly"}, "period"),
        ({"organization_unit": 999999}, "organization_unit"),
        ({"category": 999999}, "category"),
        ({"team": 999999}, "team"),
        ({"action": "explode"}, "action"),
        ({"tags_filter": {"env": 1}}, "tags_filter"),
    ],
)
def test_bad_input_is_400_naming_the_field(org, client_for, over, field):
    resp = client_for(org.fin).post(URL, payload(org, **over), format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()
    assert Budget.objects.count() == 0


def test_amount_change_needs_reason_and_is_kept_as_revision(org, client_for):
    budget = BudgetFactory(organization_unit=org.eng, amount=Decimal("100.00"))
    client = client_for(org.fin)
    resp = client.patch(f"{URL}{budget.pk}/", {"amount": "150.00"}, format="json")
    assert resp.status_code == 400
    assert "reason" in resp.json()
    resp = client.patch(
        f"{URL}{budget.pk}/", {"amount": "150.00", "reason": "new hires"}, format="json"
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["amount"] == "150.00"
    rev = BudgetRevision.objects.get()
    assert (rev.old_amount, rev.new_amount, rev.reason) == (
        Decimal("100.00"),
        Decimal("150.00"),
        "new hires",
    )
    revisions = client.get(f"{URL}{budget.pk}/revisions/").json()["results"]
    assert revisions[0]["reason"] == "new hires"
    put = client.put(
        f"{URL}{budget.pk}/",
        payload(org, organization_unit=org.eng.pk, amount="150.00", name="Renamed"),
        format="json",
    )
    assert put.status_code == 200, put.content
    assert put.json()["name"] == "Renamed"
    assert client.delete(f"{URL}{budget.pk}/").status_code == 204
    assert not Budget.objects.exists()


def test_read_permissions_per_role(org, client_for):
    eng = BudgetFactory(name="Eng", organization_unit=org.eng)
    sales = BudgetFactory(name="Sales", organization_unit=org.sales)

    def names(user):
        resp = client_for(user).get(URL)
        assert resp.status_code == 200
        return {b["name"] for b in resp.json()["results"]}

    assert names(org.fin) == names(org.aud) == {"Eng", "Sales"}
    assert names(org.member) == {"Eng"}  # platform member: the parent unit's budget
    assert names(org.eng_owner) == {"Eng"}
    assert names(org.sales_member) == {"Sales"}
    assert names(org.delegate) == set()
    # Another unit's budget by id: 404 on every read.
    for path in ("", "utilization/", "alerts/", "revisions/"):
        assert client_for(org.sales_member).get(f"{URL}{eng.pk}/{path}").status_code == 404
    assert client_for(org.member).get(f"{URL}{sales.pk}/").status_code == 404
    assert client_for(org.member).get(f"{URL}{eng.pk}/").status_code == 200


def test_only_finance_writes(org, client_for):
    budget = BudgetFactory(organization_unit=org.eng)
    for user in (org.eng_owner, org.member, org.aud):
        client = client_for(user)
        assert client.post(URL, payload(org), format="json").status_code == 403
        assert client.patch(f"{URL}{budget.pk}/", {"name": "x"}, format="json").status_code == 403
        assert client.delete(f"{URL}{budget.pk}/").status_code == 403
    assert Budget.objects.get().name == budget.name
    assert client_for(org.fin).post(URL, payload(org), format="json").status_code == 201


def test_anonymous_is_401_or_403(api_client):
    assert api_client.get(URL).status_code in (401, 403)


def test_utilization_for_a_given_day_and_alerts(org, client_for):
    budget = BudgetFactory(
        organization_unit=org.eng, amount=Decimal("200.00"), alert_thresholds=["0.5"]
    )
    make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        amount="120.00",
        incurred_on=MARCH,
        status="approved",
    )
    make_cost(
        submitted_by=org.member, organization_unit=org.platform, amount="30.00", incurred_on=MARCH
    )
    client = client_for(org.eng_owner)
    resp = client.get(f"{URL}{budget.pk}/utilization/", {"on": "2025-03-20"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["period_start"] == "2025-03-01" and body["period_end"] == "2025-03-31"
    assert (body["actual"], body["committed"], body["spent"], body["remaining"]) == (
        "120.00",
        "30.00",
        "150.00",
        "50.00",
    )
    assert body["utilization_pct"] == "75.00"
    assert client.get(f"{URL}{budget.pk}/utilization/", {"on": "nope"}).status_code == 400
    alerts = client.get(f"{URL}{budget.pk}/alerts/").json()["results"]
    assert [(a["kind"], a["threshold"], a["threshold_pct"], a["spend"]) for a in alerts] == [
        ("actual", "0.5", "50", "120.00")
    ]
    assert alerts[0]["period_start"].startswith("2025-03-01")
    assert BudgetAlert.objects.count() == 1


def test_check_answers_per_budget_without_writing(org, client_for):
    cloud = CostCategoryFactory(slug="chk-cloud", name="Cloud")
    hard = BudgetFactory(
        name="Hard", organization_unit=org.eng, amount=Decimal("100"), action="block"
    )
    BudgetFactory(name="Soft", organization_unit=org.root, amount=Decimal("1000"), action="warn")
    BudgetFactory(name="Cloud only", organization_unit=org.root, category=cloud)
    make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        amount="80.00",
        incurred_on=MARCH,
    )
    client = client_for(org.member)
    body = {
        "amount": "30.00",
        "currency": "USD",
        "organization_unit": org.platform.pk,
        "incurred_on": "2025-03-20",
    }
    resp = client.post(f"{URL}check/", body, format="json")
    assert resp.status_code == 200, resp.content
    answer = resp.json()
    assert answer["allowed"] is False
    per = {b["name"]: b for b in answer["budgets"]}
    assert set(per) == {"Hard", "Soft"}
    assert per["Hard"]["allowed"] is False and per["Hard"]["budget_remaining"] == "20.00"
    assert per["Hard"]["budget_id"] == hard.pk
    assert per["Soft"]["allowed"] is True
    ok = client.post(f"{URL}check/", {**body, "amount": "20.00"}, format="json").json()
    assert ok["allowed"] is True
    # Another unit is answered like an unknown one; bad input names the field.
    other = client.post(f"{URL}check/", {**body, "organization_unit": org.sales.pk}, format="json")
    assert other.status_code == 400 and "organization_unit" in other.json()
    bad = client.post(f"{URL}check/", {**body, "currency": "QQQ"}, format="json")
    assert bad.status_code == 400 and "currency" in bad.json()


def test_blocked_submission_through_the_costs_api_is_403_with_details(org, client_for):
    budget = BudgetFactory(
        name="Hard", organization_unit=org.eng, amount=Decimal("100"), action="block"
    )
    resp = client_for(org.member).post(
        "/api/v1/costs/",
        {
            "amount": "150.00",
            "currency": "USD",
            "incurred_on": "2025-03-15",
            "organization_unit": org.platform.pk,
        },
        format="json",
    )
    assert resp.status_code == 403
    body = resp.json()
    assert body["code"] == "budget_exceeded"
    assert body["budget_limit"] == "100.00"
    assert body["budget_remaining"] == "100.00"
    assert body["budget_utilization_pct"] == "0.00"
    assert body["budgets"][0]["budget_id"] == budget.pk


def test_my_budgets_lists_budgets_of_my_units_and_teams(org, client_for):
    team = Group.objects.create(name="sre")
    org.sales_member.groups.add(team)
    BudgetFactory(name="Eng", organization_unit=org.eng)
    BudgetFactory(name="Sales", organization_unit=org.sales)
    BudgetFactory(name="SRE", organization_unit=org.eng, team=team)
    BudgetFactory(name="Old", organization_unit=org.sales, active=False)
    mine = lambda user: {  # noqa: E731
        b["name"] for b in client_for(user).get("/api/v1/users/me/budgets/").json()["results"]
    }
    assert mine(org.member) == {"Eng", "SRE"}
    assert mine(org.sales_member) == {"Sales", "SRE"}
    assert mine(org.fin) == set()


def test_list_runs_a_bounded_number_of_queries(org, client_for, django_assert_max_num_queries):
    cloud = CostCategoryFactory(slug="q-cloud", name="Cloud")
    for i in range(3):
        BudgetFactory(organization_unit=org.eng, category=cloud if i % 2 else None)
    client = client_for(org.member)
    with django_assert_max_num_queries(8):
        small = client.get(URL)
    for i in range(15):
        BudgetFactory(organization_unit=org.eng, category=cloud if i % 2 else None)
    with django_assert_max_num_queries(8):
        big = client.get(URL)
    assert len(big.json()["results"]) == len(small.json()["results"]) + 15


# --- enforcement through POST /api/v1/costs/ and the approve action ---------------------------


def cost_body(org, amount, **over):
    return {
        "amount": amount,
        "currency": "USD",
        "incurred_on": "2025-03-15",
        "organization_unit": org.platform.pk,
        **over,
    }


def test_warn_budget_answers_201_with_per_budget_warnings(org, client_for):
    budget = BudgetFactory(name="Eng soft", organization_unit=org.eng, amount=Decimal("100.00"))
    make_cost(submitted_by=org.member, organization_unit=org.platform, amount="80.00")
    resp = client_for(org.member).post("/api/v1/costs/", cost_body(org, "30.00"), format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["status"] == "pending"
    assert body["warnings"] == [
        {
            "budget_id": budget.pk,
            "name": "Eng soft",
            "action": "warn",
            "budget_limit": "100.00",
            "budget_spent": "80.00",
            "budget_remaining": "20.00",
            "budget_utilization_pct": "80.00",
            "requested": "30.00",
            "currency": "USD",
            "period_start": "2025-03-01",
            "period_end": "2025-03-31",
            "message": "Budget 'Eng soft' (2025-03-01 to 2025-03-31): limit 100.00 USD, spent "
            "80.00 USD, remaining 20.00 USD, 80.00 % used; this cost adds 30.00 USD.",
        }
    ]
    within = client_for(org.member).post("/api/v1/costs/", cost_body(org, "1.00"), format="json")
    assert within.status_code == 201 and within.json()["warnings"][0]["budget_spent"] == "110.00"


def test_finance_overrides_a_block_through_the_api(org, client_for):
    from costs.models import Cost

    budget = BudgetFactory(
        name="Eng hard", organization_unit=org.eng, amount=Decimal("100.00"), action="block"
    )
    over = cost_body(org, "150.00", override_reason="Launch capacity")
    refused = client_for(org.member).post("/api/v1/costs/", over, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "override_not_allowed"
    assert not Cost.objects.exists()
    resp = client_for(org.fin).post("/api/v1/costs/", over, format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    warning = body["warnings"][0]
    assert (warning["budget_id"], warning["overridden"], warning["override_reason"]) == (
        budget.pk,
        True,
        "Launch capacity",
    )
    assert warning["budget_remaining"] == "100.00" and warning["requested"] == "150.00"
    detail = client_for(org.fin).get(f"/api/v1/costs/{body['id']}/").json()
    overrides = [e for e in detail["history"] if e["action"] == "override"]
    assert len(overrides) == 1
    assert overrides[0]["comment"] == "Launch capacity"
    assert overrides[0]["actor"]["username"] == "fin"
    # Without a reason finance is refused like anyone else.
    plain = client_for(org.fin).post("/api/v1/costs/", cost_body(org, "1.00"), format="json")
    assert plain.status_code == 403 and plain.json()["code"] == "budget_exceeded"


def test_approve_through_the_api_holds_approved_only_budgets(org, client_for):
    budget = BudgetFactory(
        name="Eng approved",
        organization_unit=org.eng,
        amount=Decimal("100.00"),
        action="block",
        include_pending=False,
    )
    first = make_cost(submitted_by=org.member, organization_unit=org.platform, amount="70.00")
    second = make_cost(submitted_by=org.member, organization_unit=org.platform, amount="70.00")
    owner = client_for(org.eng_owner)
    assert owner.post(f"/api/v1/costs/{first.pk}/approve/", {}).status_code == 200
    resp = owner.post(f"/api/v1/costs/{second.pk}/approve/", {"comment": "ok"})
    assert resp.status_code == 403
    body = resp.json()
    assert body["code"] == "budget_exceeded"
    assert (body["budget_limit"], body["budget_remaining"]) == ("100.00", "30.00")
    assert body["budgets"][0]["budget_id"] == budget.pk
    assert body["budgets"][0]["budget_spent"] == "70.00"
    denied = owner.post(f"/api/v1/costs/{second.pk}/approve/", {"override_reason": "pls"})
    assert denied.status_code == 403 and denied.json()["code"] == "override_not_allowed"
    resp = client_for(org.fin).post(
        f"/api/v1/costs/{second.pk}/approve/", {"override_reason": "Year-end"}
    )
    assert resp.status_code == 200 and resp.json()["status"] == "approved"
    assert [e["comment"] for e in resp.json()["history"] if e["action"] == "override"] == [
        "Year-end"
    ]
