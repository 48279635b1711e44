"""Billing import API: upload, status with row errors, decisions, rules, permissions."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from costs.models import Cost, CostEvent, ImportBatch, MappingRule
from tests.imports.conftest import gz, rows_of, sample_bytes, to_csv
from tests.orgunits.factories import UserFactory, auditor_user

pytestmark = pytest.mark.django_db


def upload(client, content: bytes, name: str = "gcp.csv", **extra):
    return client.post(
        "/api/v1/imports/",
        {"file": SimpleUploadedFile(name, content), **extra},
        format="multipart",
    )


def test_finance_uploads_a_file_and_reads_status_counts_and_totals(
    client_for, importer, landing, django_capture_on_commit_callbacks
):
    client = client_for(importer)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, gz(sample_bytes("gcp.csv")), "gcp.csv.gz", unit="cloud")
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued"
    detail = client.get(f"/api/v1/imports/{response.json()['id']}/")
    body = detail.json()
    assert detail.status_code == 200
    assert body["status"] == "succeeded"
    assert body["billing_account_id"] == "01ABCD-23EF45-67GH89"
    assert body["counts"]["rows"] == len(rows_of(sample_bytes("gcp.csv")))
    assert body["counts"]["costs_created"] == Cost.objects.count()
    assert body["errors"] == []
    listing = client.get("/api/v1/imports/")
    assert listing.json()["count"] == 1


def test_the_same_file_again_returns_the_existing_import(
    client_for, importer, landing, django_capture_on_commit_callbacks
):
    client = client_for(importer)
    with django_capture_on_commit_callbacks(execute=True):
        first = upload(client, sample_bytes("gcp.csv"), unit="cloud")
    costs = Cost.objects.count()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = upload(client, sample_bytes("gcp.csv"), unit="cloud")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert callbacks == []
    assert Cost.objects.count() == costs


def test_a_bad_file_shows_its_row_errors(
    client_for, importer, landing, django_capture_on_commit_callbacks
):
    rows = rows_of(sample_bytes("gcp.csv"))
    rows[3]["BillingCurrency"] = "QQQ"
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client_for(importer), to_csv(rows), unit="cloud")
    body = client_for(importer).get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert body["status"] == "failed"
    assert body["errors"] == [
        {"line": 5, "column": "BillingCurrency", "message": "unknown currency 'QQQ'"}
    ]
    assert body["counts"]["errors"] == 1
    assert Cost.objects.count() == 0


def test_only_finance_uploads_and_others_do_not_see_imports(
    client_for, importer, landing, django_capture_on_commit_callbacks
):
    member = UserFactory(username="member")
    assert upload(client_for(member), sample_bytes("gcp.csv")).status_code == 403
    assert upload(client_for(auditor_user()), sample_bytes("gcp.csv")).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        batch_id = upload(client_for(importer), sample_bytes("gcp.csv"), unit="cloud").json()["id"]
    assert client_for(member).get(f"/api/v1/imports/{batch_id}/").status_code == 404
    assert client_for(member).get("/api/v1/imports/").json()["count"] == 0
    assert client_for(auditor_user()).get(f"/api/v1/imports/{batch_id}/").status_code == 200
    assert upload(client_for(importer), b"", unit="cloud").status_code == 400


def test_approver_sees_the_group_and_decides_it_in_one_call(
    client_for, importer, landing, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    with django_capture_on_commit_callbacks(execute=True):
        batch_id = upload(client_for(importer), sample_bytes("gcp.csv"), unit="cloud").json()["id"]
    owner = landing.owner
    client = client_for(owner)
    with django_assert_max_num_queries(6):
        awaiting = client.get("/api/v1/imports/awaiting/").json()
    assert awaiting["count"] == 1
    group = awaiting["results"][0]
    assert (group["batch_id"], group["approver_id"]) == (batch_id, owner.pk)
    assert group["costs"] == Cost.objects.count()

    stranger = client_for(UserFactory(username="stranger"))
    denied = stranger.post(
        f"/api/v1/imports/{batch_id}/decide/", {"decision": "approve", "approver": owner.pk}
    )
    assert denied.status_code == 403
    response = client.post(
        f"/api/v1/imports/{batch_id}/decide/", {"decision": "approve", "comment": "ok"}
    )
    assert response.status_code == 200
    assert response.json()["costs"] == group["costs"]
    assert set(Cost.objects.values_list("status", flat=True)) == {"approved"}
    assert CostEvent.objects.filter(action="approve", actor=owner).count() == group["costs"]
    assert client.get("/api/v1/imports/awaiting/").json()["count"] == 0
    again = client.post(f"/api/v1/imports/{batch_id}/decide/", {"decision": "approve"})
    assert again.status_code == 409
    assert ImportBatch.objects.get(pk=batch_id).status == "succeeded"


def test_mapping_rules_crud_is_finance_only(client_for, importer, landing):
    payload = {
        "name": "web team",
        "priority": 5,
        "match_tag_key": "team",
        "match_tag_value": "web",
        "organization_unit": landing.pk,
    }
    member = client_for(UserFactory(username="member"))
    assert member.post("/api/v1/imports/rules/", payload).status_code == 403
    created = client_for(importer).post("/api/v1/imports/rules/", payload)
    assert created.status_code == 201, created.json()
    rule_id = created.json()["id"]
    auditor = client_for(auditor_user())
    assert auditor.get("/api/v1/imports/rules/").json()["count"] == 1
    assert auditor.patch(f"/api/v1/imports/rules/{rule_id}/", {"priority": 1}).status_code == 403
    updated = client_for(importer).patch(f"/api/v1/imports/rules/{rule_id}/", {"priority": 1})
    assert updated.json()["priority"] == 1
    no_target = client_for(importer).post(
        "/api/v1/imports/rules/", {"name": "nothing", "match_service": "BigQuery"}
    )
    assert no_target.status_code == 400
    assert client_for(importer).delete(f"/api/v1/imports/rules/{rule_id}/").status_code == 204
    assert MappingRule.objects.count() == 0


def test_a_batch_approval_past_a_block_budget_is_403_with_the_budget(
    client_for, importer, landing, django_capture_on_commit_callbacks
):

    from budgets.models import Budget
    from tests.budgets.factories import BudgetFactory
    from tests.imports.test_budgets import _approved_meanwhile, _gcp_total

    BudgetFactory(
        name="Approved spend",
        amount=_gcp_total() + 50,
        organization_unit=landing,
        action=Budget.Action.BLOCK,
        include_pending=False,
    )
    with django_capture_on_commit_callbacks(execute=True):
        batch_id = upload(client_for(importer), sample_bytes("gcp.csv"), unit="cloud").json()["id"]
    _approved_meanwhile(landing, "100.00")
    owner = client_for(landing.owner)
    refused = owner.post(
        f"/api/v1/imports/{batch_id}/decide/",
        {"decision": "approve", "override_reason": "I say so"},
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "override_not_allowed"
    refused = owner.post(f"/api/v1/imports/{batch_id}/decide/", {"decision": "approve"})
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "budget_exceeded"
    assert body["budgets"][0]["name"] == "Approved spend"
    assert set(
        Cost.objects.filter(import_link__batch_id=batch_id).values_list("status", flat=True)
    ) == {"pending"}
    allowed = client_for(importer).post(
        f"/api/v1/imports/{batch_id}/decide/",
        {"decision": "approve", "approver": landing.owner_id, "override_reason": "Contracted"},
    )
    # the importer may not decide what they imported, even as finance
    assert allowed.status_code == 403
    assert set(
        Cost.objects.filter(import_link__batch_id=batch_id).values_list("status", flat=True)
    ) == {"pending"}


def test_auditors_are_offered_no_import_groups(client_for, importer, landing):
    import io

    from django.contrib.auth.models import Group

    from costs.imports import services

    services.import_file(
        source=io.BytesIO(sample_bytes("gcp.csv")),
        file_name="gcp.csv",
        acting_user=importer,
        unit=landing,
    )
    owner = type(landing.owner).objects.get(pk=landing.owner_id)
    assert client_for(owner).get("/api/v1/imports/awaiting/").json()["count"] == 1
    owner.groups.add(Group.objects.get(name="auditor"))
    owner = type(owner).objects.get(pk=owner.pk)  # no cached roles
    assert client_for(owner).get("/api/v1/imports/awaiting/").json()["count"] == 0
