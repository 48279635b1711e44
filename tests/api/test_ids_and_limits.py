"""Ids that are not whole numbers are a JSON 404; bodies over a limit are a JSON 413."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.test import RequestFactory, override_settings

from costs.models import Cost, ImportBatch
from costtrack.core.uploads import UploadLimitHandler, UploadTooLarge

pytestmark = pytest.mark.django_db

OBJECT_ROUTES = [
    "/api/v1/costs/{id}/",
    "/api/v1/costs/{id}/approve/",
    "/api/v1/recurring-costs/{id}/",
    "/api/v1/periods/{id}/",
    "/api/v1/periods/{id}/close/",
    "/api/v1/budgets/{id}/",
    "/api/v1/budgets/{id}/utilization/",
    "/api/v1/budgets/{id}/alerts/",
    "/api/v1/org-units/{id}/",
    "/api/v1/org-units/{id}/rollup/",
    "/api/v1/entities/{id}/",
    "/api/v1/resources/{id}/",
    "/api/v1/categories/{id}/",
    "/api/v1/exchange-rates/{id}/",
    "/api/v1/allocation/nodes/{id}/",
    "/api/v1/allocation/edges/{id}/",
    "/api/v1/allocation/usage/{id}/",
    "/api/v1/allocation/runs/{id}/",
    "/api/v1/allocation/runs/{id}/results/",
    "/api/v1/imports/{id}/",
    "/api/v1/imports/{id}/decide/",
    "/api/v1/imports/rules/{id}/",
    "/api/v1/notifications/{id}/read/",
]


@pytest.mark.parametrize("route", OBJECT_ROUTES)
def test_an_id_that_is_not_a_whole_number_is_a_json_404(org, client_for, row_counts, route):
    before = row_counts()
    client = client_for(org.fin)
    # (``1.5`` is not here: with format suffixes it reads as object 1 in format "5", a 404 too)
    for bad_id in ["abc", "-1", "1e3", "%00", "\u0661", "99999999999999999999x"]:
        for method in ("get", "patch", "post", "put", "delete"):
            url = route.format(id=bad_id)
            response = getattr(client, method)(url, {}, format="json")
            assert response.status_code == 404, (method, url, response.content[:200])
            assert response["Content-Type"] == "application/json"
            body = response.json()
            assert body["code"] == "not_found"
            assert "whole numbers" in body["detail"]
    assert row_counts() == before


def test_recurring_cost_abc_get_and_patch(org, client_for):
    client = client_for(org.fin)
    for response in (
        client.get("/api/v1/recurring-costs/abc/"),
        client.patch("/api/v1/recurring-costs/abc/", {"name": "x"}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == (
            "No API endpoint or object at /api/v1/recurring-costs/abc/ "
            "(object ids are whole numbers)."
        )


def test_an_unknown_api_route_is_json_and_a_page_is_not(client_for, org):
    response = client_for(org.fin).get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    page = client_for(org.fin).get("/no-such-page/")
    assert page.status_code == 404
    assert not page["Content-Type"].startswith("application/json")


def test_a_json_body_over_the_limit_is_a_json_413(org, client_for, row_counts):
    before = row_counts()
    body = json.dumps(
        {
            "amount": "1.00",
            "currency": "USD",
            "incurred_on": "2025-03-10",
            "organization_unit": org.platform.pk,
            "description": "x" * (3 * 1024 * 1024),
        }
    )
    response = client_for(org.member).post(
        "/api/v1/costs/", data=body, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is over the limit of 2.5 MB for JSON and form data.",
        "code": "payload_too_large",
        "limit_bytes": 2_621_440,
    }
    assert row_counts() == before


@override_settings(COSTTRACK_IMPORT_MAX_MB=1)
def test_a_body_over_the_largest_upload_is_refused_before_it_is_read(org, client_for):
    # The Content-Length claims 5 MB; the middleware answers without reading a byte of it.
    response = client_for(org.fin).generic(
        "POST",
        "/api/v1/costs/",
        b"{}",
        content_type="application/json",
        CONTENT_LENGTH=str(5 * 1024 * 1024),
    )
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "The request body is 5.0 MB; costtrack accepts at most 1.0 MB."
    )
    assert Cost.objects.count() == 0


# --- billing files ---------------------------------------------------------------------


def upload(client, content: bytes, **extra):
    return client.post(
        "/api/v1/imports/",
        {"file": SimpleUploadedFile("big.csv", content), **extra},
        format="multipart",
    )


@override_settings(COSTTRACK_IMPORT_MAX_MB=0.01)
def test_an_import_over_the_limit_is_a_json_413(org, client_for, row_counts):
    before = row_counts()
    response = upload(client_for(org.fin), b"x" * 20_000)
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "payload_too_large"
    assert body["limit_bytes"] == 10485
    assert "accepts at most 10485 bytes" in body["detail"]
    assert ImportBatch.objects.count() == 0
    assert row_counts() == before


@override_settings(COSTTRACK_IMPORT_MAX_MB=0.01)
def test_an_import_whose_content_length_is_over_the_limit_is_refused_unread(org, client_for):
    response = client_for(org.fin).generic(
        "POST",
        "/api/v1/imports/",
        b"--b\r\n",
        content_type="multipart/form-data; boundary=b",
        CONTENT_LENGTH="20000",
    )
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "The request body is 20000 bytes; costtrack accepts at most 10485 bytes."
    )


def test_files_on_other_endpoints_are_held_to_the_json_limit(org, client_for, row_counts):
    before = row_counts()
    response = client_for(org.member).post(
        "/api/v1/costs/",
        {"file": SimpleUploadedFile("x.bin", b"x" * (3 * 1024 * 1024)), "amount": "1.00"},
        format="multipart",
    )
    assert response.status_code == 413
    assert "accepts at most 2.5 MB" in response.json()["detail"]
    assert row_counts() == before


def test_the_upload_is_stopped_while_it_streams():
    # A body without (or with a lying) Content-Length is counted chunk by chunk.
    handler = UploadLimitHandler()
    handler.max_bytes = 100
    handler.handle_raw_input(None, {}, 0, b"b")
    assert handler.receive_data_chunk(b"x" * 60, 0) == b"x" * 60
    with pytest.raises(UploadTooLarge, match="accepts at most 100 bytes"):
        handler.receive_data_chunk(b"x" * 60, 60)


def test_uploaded_files_stream_to_disk_not_memory():
    content = b"x" * (300 * 1024)
    request = RequestFactory().post(
        "/api/v1/imports/", {"file": SimpleUploadedFile("big.csv", content)}
    )
    upload = request.FILES["file"]
    assert isinstance(upload, TemporaryUploadedFile)
    assert upload.size == len(content)
    upload.close()


def test_nul_in_a_form_field_of_an_upload(org, client_for, row_counts):
    before = row_counts()
    response = upload(client_for(org.fin), b"a,b\n", override_reason="x\u0000")
    assert response.status_code == 400
    assert response.json() == {
        "override_reason": [
            "'override_reason' contains a NUL character (\\u0000), which cannot be stored."
        ]
    }
    assert row_counts() == before


@pytest.mark.parametrize(
    "url", ["/api/v1/costs/", "/api/v1/recommendations/", "/api/v1/org-units/"]
)
def test_an_offset_past_any_table_is_an_empty_page_not_an_overflow(org, client_for, url):
    """An offset beyond PostgreSQL's bigint (schemathesis found one) answers an empty page."""
    client = client_for(org.fin)
    response = client.get(url, {"offset": "309612658700731809792", "limit": "8795132"})
    assert response.status_code == 200, response.content[:300]
    assert response.json()["results"] == []
