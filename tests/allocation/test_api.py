"""The allocation API: who may do what, 400s naming the problem, runs and their reports."""

import json
from datetime import date
from decimal import Decimal

import pytest

from allocation.models import AllocationEdge, AllocationRun, CostNode
from costtrack.core.models import Job
from tests.orgunits.factories import auditor_user, finance_user

from .factories import MARCH, approved_cost, edge, node, resource_node, usage

pytestmark = pytest.mark.django_db

BASE = "/api/v1/allocation"


@pytest.fixture
def fin(client_for):
    return client_for(finance_user())


@pytest.fixture
def post_run(fin, django_capture_on_commit_callbacks):
    """POST a run and execute what the request queued after commit (the Celery task)."""

    def post(body):
        with django_capture_on_commit_callbacks(execute=True):
            response = fin.post(f"{BASE}/runs/", body, format="json")
        return response

    return post


@pytest.fixture
def graph():
    """kubernetes $500 → web_app (1,000 cpu-hours) and api (4,000); api → suite 100 %."""
    k8s = resource_node("kubernetes", CostNode.Kind.PLATFORM)
    web, api, suite = node("web_app"), node("api"), node("suite")
    edge(k8s, web, "proportional", {"metric": "cpu_hours"})
    edge(k8s, api, "proportional", {"metric": "cpu_hours"})
    edge(api, suite, "fixed_percent", {"percent": "100"})
    usage(web, "cpu_hours", 1000)
    usage(api, "cpu_hours", 4000)
    approved_cost("500.00", resource=k8s.resource)
    return {"k8s": k8s, "web": web, "api": api, "suite": suite}


def test_finance_builds_the_graph(fin):
    r = fin.post(f"{BASE}/nodes/", {"name": "database", "kind": "shared_service"}, format="json")
    assert r.status_code == 201, r.data
    db = r.data["id"]
    web = fin.post(f"{BASE}/nodes/", {"name": "web", "kind": "product"}, format="json").data["id"]
    r = fin.post(
        f"{BASE}/edges/",
        {"parent": db, "child": web, "strategy": "proportional", "parameters": {"metric": "qps"}},
        format="json",
    )
    assert r.status_code == 201, r.data
    assert r.data["parent_name"] == "database"
    r = fin.post(
        f"{BASE}/usage/",
        {"node": web, "metric": "qps", "date": "2025-03-02", "quantity": "12.5"},
        format="json",
    )
    assert r.status_code == 201, r.data
    assert r.data["quantity"] == "12.500000"


def test_a_cycle_answers_400_naming_the_cycle(fin):
    a, b = node("alpha", "platform"), node("beta")
    edge(a, b)
    r = fin.post(f"{BASE}/edges/", {"parent": b.pk, "child": a.pk}, format="json")
    assert r.status_code == 400
    assert r.data == {"child": ["This edge would create a cycle: alpha → beta → alpha."]}
    assert AllocationEdge.objects.count() == 1


def test_fixed_shares_above_100_answer_400_naming_the_nodes(fin):
    base, ent, prem = node("base"), node("enterprise"), node("premium")
    edge(base, ent, "fixed_percent", {"percent": "70"})
    r = fin.post(
        f"{BASE}/edges/",
        {
            "parent": base.pk,
            "child": prem.pk,
            "strategy": "fixed_percent",
            "parameters": {"percent": "50"},
        },
        format="json",
    )
    assert r.status_code == 400
    assert "'enterprise' 70 %" in r.data["parameters"][0]
    assert "'premium' 50 %" in r.data["parameters"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"strategy": "proportional", "parameters": {}}, "parameters"),
        ({"strategy": "banana"}, "strategy"),
        ({"strategy": "fixed_percent", "parameters": {"percent": "abc"}}, "parameters"),
        ({"overrides": {"storage": {"strategy": "proportional"}}}, "overrides"),
        ({"parameters": [1, 2]}, "parameters"),
    ],
)
def test_bad_edge_parameters_answer_400(fin, body, field):
    a, b = node("a", "platform"), node("b")
    r = fin.post(f"{BASE}/edges/", {"parent": a.pk, "child": b.pk, **body}, format="json")
    assert r.status_code == 400
    assert field in r.data
    assert AllocationEdge.objects.count() == 0


def test_auditors_read_everything_but_do_not_write(client_for):
    node("web")
    client = client_for(auditor_user())
    assert client.get(f"{BASE}/nodes/").json()["count"] == 1
    r = client.post(f"{BASE}/nodes/", {"name": "x", "kind": "product"}, format="json")
    assert r.status_code == 403
    assert client.post(f"{BASE}/runs/", {"period": "2025-03"}, format="json").status_code == 403
    assert CostNode.objects.count() == 1
    assert AllocationRun.objects.count() == 0


def test_anonymous_is_refused(api_client):
    assert api_client.get(f"{BASE}/runs/").status_code == 401


def test_run_results_flows_reconciliation_and_explain(fin, graph, post_run):
    r = post_run({"period": "2025-03"})
    assert r.status_code == 202, r.json()
    run_id = r.json()["id"]
    assert r.json()["status"] == "pending"
    run = fin.get(f"{BASE}/runs/{run_id}/").json()
    assert run["status"] == "succeeded"
    assert run["raw_total"] == "500.00000000"
    assert run["coverage"] == "1.000000"
    assert run["same_as"] is None

    # unchanged inputs: a new run that points at the first, with the same figures
    again = post_run({"period_start": "2025-03-01", "period_end": "2025-03-31"})
    assert again.status_code == 202
    again = fin.get(f"{BASE}/runs/{again.json()['id']}/").json()
    assert (again["status"], again["same_as"], again["raw_total"]) == (
        "succeeded",
        run_id,
        "500.00000000",
    )

    for shown in (run_id, again["id"]):
        results = fin.get(f"{BASE}/runs/{shown}/results/", {"kind": "product"}).json()
        holistic = {row["name"]: row["holistic"] for row in results["results"]}
        assert holistic == {
            "api": "400.00000000",
            "suite": "400.00000000",
            "web_app": "100.00000000",
        }

    flows = fin.get(f"{BASE}/runs/{run_id}/flows/", {"to_node": graph["suite"].pk}).json()
    assert [(f["from_name"], f["amount"]) for f in flows["results"]] == [("api", "400.00000000")]

    rec = fin.get(f"{BASE}/runs/{run_id}/reconciliation/").json()
    assert rec["raw_infrastructure_cost"] == "500.00000000"
    assert rec["allocated_to_final_cost_centres"] == "500.00000000"
    assert rec["unallocated"] == "0.00000000"
    assert rec["coverage"] == "1.000000"
    assert rec["conservation_delta"] == "0.00000000"
    assert rec["carried_in"] == "0.00000000"
    assert rec["violations"] == []

    explain = fin.get(f"{BASE}/nodes/{graph['suite'].pk}/explain/", {"run": run_id}).json()
    assert [([step["name"] for step in p["path"]], p["amount"]) for p in explain["paths"]] == [
        (["kubernetes", "api", "suite"], "400.00000000")
    ]
    assert explain["holistic"] == "400.00000000"
    assert explain["by_dimension"][0]["received"] == "400.00000000"


def test_money_in_every_allocation_report_is_a_json_string(fin, post_run):
    """Large amounts survive exactly: a JSON number would be rounded by a float."""
    db = resource_node("database", CostNode.Kind.SHARED_SERVICE)
    web, api = node("web"), node("api")
    edge(db, web)
    edge(db, api)
    approved_cost("123456789012.35", resource=db.resource)
    run_id = post_run({"period": "2025-03"}).json()["id"]

    def strings(body, *keys):
        return {key: body[key] for key in keys}

    run = fin.get(f"{BASE}/runs/{run_id}/").json()
    assert strings(run, "raw_total", "allocated_total", "unallocated_total", "coverage") == {
        "raw_total": "123456789012.35000000",
        "allocated_total": "123456789012.35000000",
        "unallocated_total": "0.00000000",
        "coverage": "1.000000",
    }
    rec = fin.get(f"{BASE}/runs/{run_id}/reconciliation/")
    assert b'"raw_infrastructure_cost":"123456789012.35000000"' in rec.content
    body = rec.json()
    for key in ("allocated_to_final_cost_centres", "unallocated", "carried_forward"):
        assert isinstance(body[key], str), key
    results = fin.get(f"{BASE}/runs/{run_id}/results/", {"node": web.pk}).json()["results"]
    assert [r["holistic"] for r in results] == ["61728394506.18000000"]
    flows = fin.get(f"{BASE}/runs/{run_id}/flows/", {"to_node": api.pk}).json()["results"]
    assert [f["amount"] for f in flows] == ["61728394506.17000000"]
    explain = fin.get(f"{BASE}/nodes/{web.pk}/explain/", {"run": run_id}).json()
    assert explain["holistic"] == "61728394506.18000000"
    assert explain["direct"] == "0.00000000"
    assert [p["amount"] for p in explain["paths"]] == ["61728394506.18000000"]
    dims = explain["by_dimension"]
    assert [(d["dimension"], d["holistic"], d["retained"]) for d in dims] == [
        ("compute", "61728394506.18000000", "61728394506.18000000")
    ]


def test_a_second_request_for_a_pending_period_returns_the_pending_run(fin):
    first = fin.post(f"{BASE}/runs/", {"period": "2025-03"}, format="json")
    second = fin.post(f"{BASE}/runs/", {"period": "2025-03"}, format="json")
    other_month = fin.post(f"{BASE}/runs/", {"period": "2025-04"}, format="json")
    assert first.status_code == 202
    assert (second.status_code, second.json()["id"]) == (200, first.json()["id"])
    assert second.json()["status"] == "pending"
    assert other_month.status_code == 202 and other_month.json()["id"] != first.json()["id"]
    assert AllocationRun.objects.count() == 2
    # one job per run, still pending: the test client's transaction never commits
    jobs = Job.objects.values_list("args", "state")
    assert sorted(jobs) == sorted(
        [([first.json()["id"]], "pending"), ([other_month.json()["id"]], "pending")]
    )


def test_explain_splits_a_shared_parent_back_to_its_sources(fin, post_run):
    db, k8s = resource_node("db", "shared_service"), resource_node("k8s", "platform")
    platform, web = node("platform", "platform"), node("web")
    edge(db, platform)
    edge(k8s, platform)
    edge(platform, web)
    approved_cost("30.00", resource=db.resource, category_slug="compute")
    approved_cost("70.00", resource=k8s.resource, category_slug="compute")
    run = post_run({"period": "2025-03"}).data["id"]
    paths = fin.get(f"{BASE}/nodes/{web.pk}/explain/", {"run": run}).json()["paths"]
    assert [([s["name"] for s in p["path"]], p["amount"]) for p in paths] == [
        (["k8s", "platform", "web"], "70.00000000"),
        (["db", "platform", "web"], "30.00000000"),
    ]


def test_run_requests_are_validated(fin):
    assert fin.post(f"{BASE}/runs/", {"period": "2025-13"}, format="json").status_code == 400
    r = fin.post(
        f"{BASE}/runs/", {"period_start": "2025-03-31", "period_end": "2025-03-01"}, format="json"
    )
    assert r.status_code == 400 and "period_end" in r.data
    assert fin.post(f"{BASE}/runs/", {}, format="json").status_code == 400
    assert AllocationRun.objects.count() == 0


def test_a_node_on_a_resource_another_node_links_answers_400(fin):
    first = resource_node("first")
    r = fin.post(
        f"{BASE}/nodes/",
        {"name": "second", "kind": "product", "resource": first.resource.pk},
        format="json",
    )
    assert r.status_code == 400
    assert r.json() == {
        "resource": [
            "The node 'first' already links this resource; a cost counts at one node only."
        ]
    }
    assert CostNode.objects.count() == 1


def test_edges_whose_windows_overlap_answer_400_and_disjoint_ones_201(fin):
    base, old, new = node("base"), node("old_plan"), node("new_plan")
    edge(base, old, "fixed_percent", {"percent": "60"}, active_to=date(2025, 4, 15))
    body = {
        "parent": base.pk,
        "child": new.pk,
        "strategy": "fixed_percent",
        "parameters": {"percent": "60"},
        "active_from": "2025-04-10",
    }
    r = fin.post(f"{BASE}/edges/", body, format="json")
    assert r.status_code == 400
    assert r.json() == {
        "parameters": [
            "The fixed shares of 'base' would total 120 %, above 100 % "
            "('old_plan' 60 %, 'new_plan' 60 %)."
        ]
    }
    assert AllocationEdge.objects.count() == 1
    r = fin.post(f"{BASE}/edges/", {**body, "active_from": "2025-04-16"}, format="json")
    assert r.status_code == 201, r.json()
    assert AllocationEdge.objects.count() == 2


def test_unknown_run_is_404(fin):
    node_ = node("web")
    assert fin.get(f"{BASE}/runs/999/").status_code == 404
    assert fin.get(f"{BASE}/nodes/{node_.pk}/explain/", {"run": 999}).status_code == 404
    assert fin.get(f"{BASE}/nodes/{node_.pk}/explain/").status_code == 404


def test_result_list_runs_a_bounded_number_of_queries(
    fin, graph, post_run, django_assert_max_num_queries
):
    for i in range(30):
        child = node(f"extra-{i}")
        edge(graph["web"], child)
    run = post_run({"period": "2025-03"}).data["id"]
    with django_assert_max_num_queries(6):
        r = fin.get(f"{BASE}/runs/{run}/results/")
    assert r.data["count"] > 30
    with django_assert_max_num_queries(6):
        fin.get(f"{BASE}/runs/{run}/flows/")
    with django_assert_max_num_queries(6):
        fin.get(f"{BASE}/edges/")


def test_management_command_runs_a_month(graph, capsys):
    from django.core.management import call_command

    call_command("allocation", "run", "--period", "2025-03")
    report = json.loads(capsys.readouterr().out)
    assert Decimal(report["raw_infrastructure_cost"]) == Decimal("500")
    assert Decimal(report["coverage"]) == 1
    assert AllocationRun.objects.get().period_end == MARCH["period_end"]


def test_finance_changes_and_deletes_edges(fin):
    base, ent = node("base"), node("enterprise")
    e = edge(base, ent, "fixed_percent", {"percent": "30"})
    r = fin.patch(f"{BASE}/edges/{e.pk}/", {"parameters": {"percent": "130"}}, format="json")
    assert r.status_code == 400
    assert "at most 100" in r.data["parameters"][0]
    r = fin.patch(f"{BASE}/edges/{e.pk}/", {"parameters": {"percent": "45"}}, format="json")
    assert r.status_code == 200
    assert r.data["parameters"] == {"percent": "45"}
    r = fin.patch(f"{BASE}/edges/{e.pk}/", {"child": base.pk}, format="json")
    assert r.status_code == 400 and "child" in r.data
    assert fin.delete(f"{BASE}/edges/{e.pk}/").status_code == 204
    assert AllocationEdge.objects.count() == 0


def test_usage_is_listed_and_filtered(client_for):
    web, api = node("web"), node("api")
    usage(web, "cpu_hours", 3)
    usage(api, "requests", 9)
    client = client_for(auditor_user())
    rows = client.get(f"{BASE}/usage/", {"node": web.pk}).data["results"]
    assert [(r["node_name"], r["metric"], r["quantity"]) for r in rows] == [
        ("web", "cpu_hours", "3.000000")
    ]
    bad = client_for(finance_user()).post(
        f"{BASE}/usage/",
        {"node": web.pk, "metric": "cpu", "date": "2025-03-01", "quantity": "-1"},
        format="json",
    )
    assert bad.status_code == 400 and "quantity" in bad.data


def test_a_node_of_a_past_run_cannot_be_deleted(fin, graph, post_run):
    post_run({"period": "2025-03"})
    r = fin.delete(f"{BASE}/nodes/{graph['web'].pk}/")
    assert r.status_code == 409
    assert r.data["code"] == "node_in_runs"
    assert CostNode.objects.filter(pk=graph["web"].pk).exists()
    spare = node("spare")
    assert fin.delete(f"{BASE}/nodes/{spare.pk}/").status_code == 204
