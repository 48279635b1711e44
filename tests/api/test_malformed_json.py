"""Malformed JSON bodies answer 400 with a JSON body naming the problem, and write nothing."""

import json

import pytest

from costs.models import Cost
from tests.costs.factories import make_cost

pytestmark = pytest.mark.django_db

COSTS = "/api/v1/costs/"


def cost_payload(org, **kw):
    data = {
        "amount": "120.50",
        "currency": "USD",
        "incurred_on": "2025-03-10",
        "organization_unit": org.platform.pk,
        "description": "load balancer",
    }
    data.update(kw)
    return data


def send(client, method, url, raw: str):
    return getattr(client, method)(url, data=raw, content_type="application/json")


@pytest.mark.parametrize(
    ("raw", "kind"),
    [("null", "null"), ("[]", "a list"), ('[{"amount": "1"}]', "a list"), ("5", "a number"),
     ("1.5", "a number"), ('"approve"', "a string"), ("true", "a boolean")],
)  # fmt: skip
def test_patch_a_cost_with_a_body_that_is_not_an_object(org, client_for, row_counts, raw, kind):
    cost = make_cost(submitted_by=org.member, organization_unit=org.platform)
    before = row_counts()
    response = send(client_for(org.member), "patch", f"{COSTS}{cost.pk}/", raw)
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": [f"The request body must be a JSON object, not {kind}."]
    }
    assert row_counts() == before


WRITES = [
    ("post", "/api/v1/costs/"),
    ("post", "/api/v1/budgets/"),
    ("post", "/api/v1/budgets/check/"),
    ("post", "/api/v1/recurring-costs/"),
    ("post", "/api/v1/recurring-costs/generate/"),
    ("post", "/api/v1/periods/"),
    ("post", "/api/v1/org-units/"),
    ("post", "/api/v1/entities/"),
    ("post", "/api/v1/resources/"),
    ("post", "/api/v1/categories/"),
    ("post", "/api/v1/exchange-rates/"),
    ("post", "/api/v1/allocation/nodes/"),
    ("post", "/api/v1/allocation/edges/"),
    ("post", "/api/v1/allocation/usage/"),
    ("post", "/api/v1/allocation/runs/"),
    ("post", "/api/v1/imports/rules/"),
    ("put", "/api/v1/notifications/preferences/"),
]


@pytest.mark.parametrize(("method", "url"), WRITES)
@pytest.mark.parametrize("raw", ["null", "[1, 2]", "42", '"text"'])
def test_every_write_refuses_a_body_that_is_not_an_object(
    org, client_for, row_counts, method, url, raw
):
    before = row_counts()
    response = send(client_for(org.fin), method, url, raw)
    assert response.status_code == 400, (url, response.content)
    assert "must be a JSON object" in response.json()["non_field_errors"][0]
    assert row_counts() == before


def test_object_actions_refuse_a_non_object_body(org, client_for, row_counts):
    cost = make_cost(submitted_by=org.member, organization_unit=org.platform)
    before = row_counts()
    for action in ("approve", "reject", "void", "submit", "revise", "cancel"):
        response = send(client_for(org.fin), "post", f"{COSTS}{cost.pk}/{action}/", "null")
        assert response.status_code == 400, action
        assert response.json()["non_field_errors"] == [
            "The request body must be a JSON object, not null."
        ]
    assert row_counts() == before


def nested(depth: int):
    value = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [33, 5000])
def test_metadata_nested_too_deep(org, client_for, row_counts, depth):
    before = row_counts()
    raw = '{"metadata": ' + '{"a": ' * depth + '"leaf"' + "}" * depth + "}"
    raw = raw[:-1] + ', "amount": "1.00", "currency": "USD", "incurred_on": "2025-03-10"}'
    response = send(client_for(org.member), "post", COSTS, raw)
    assert response.status_code == 400
    body = response.json()
    message = (body.get("metadata") or body["non_field_errors"])[0]
    assert "nested" in message and "32" in message
    assert row_counts() == before


def test_metadata_nested_within_the_limit_is_accepted(org, client_for):
    payload = cost_payload(org, metadata=nested(30))
    response = client_for(org.member).post(COSTS, payload, format="json")
    assert response.status_code == 201, response.json()
    assert Cost.objects.get(pk=response.json()["id"]).metadata == nested(30)


@pytest.mark.parametrize(
    ("fields", "field", "where"),
    [
        ({"tags": {"env": "pr\u0000od"}}, "tags", "tags.env contains a NUL"),
        ({"tags": {"e\u0000nv": "prod"}}, "tags", "A key in tags contains a NUL"),
        ({"tags": {"\ud800": "prod"}}, "tags", "A key in tags contains a lone UTF-16 surrogate"),
        ({"tags": {"env": "\udfff"}}, "tags", "tags.env contains a lone UTF-16 surrogate"),
        ({"metadata": {"a": [{"b": "x\u0000"}]}}, "metadata", "metadata.a[0].b contains a NUL"),
        ({"description": "bad\u0000"}, "description", "description contains a NUL"),
        ({"description": "\ud83d"}, "description", "description contains a lone UTF-16"),
        ({"currency": "US\u0000D"}, "currency", "currency contains a NUL"),
    ],
)
def test_nul_and_lone_surrogates_name_the_field(org, client_for, row_counts, fields, field, where):
    before = row_counts()
    raw = json.dumps(cost_payload(org, **fields))  # ensure_ascii: sent as \\u escapes
    response = send(client_for(org.member), "post", COSTS, raw)
    assert response.status_code == 400, response.content
    (message,) = response.json()[field]
    assert message.startswith(where)
    assert row_counts() == before


def test_a_surrogate_pair_is_ordinary_text(org, client_for):
    raw = json.dumps(cost_payload(org, description="rocket \U0001f680", tags={"\u00e9": "ok"}))
    response = send(client_for(org.member), "post", COSTS, raw)
    assert response.status_code == 201, response.json()
    assert response.json()["description"] == "rocket \U0001f680"


def test_nul_in_a_patch_of_a_cost_changes_nothing(org, client_for, row_counts):
    cost = make_cost(submitted_by=org.member, organization_unit=org.platform, tags={"env": "prod"})
    before = row_counts()
    raw = json.dumps({"tags": {"env": "x\u0000"}})
    response = send(client_for(org.member), "patch", f"{COSTS}{cost.pk}/", raw)
    assert response.status_code == 400
    assert response.json() == {
        "tags": ["tags.env contains a NUL character (\\u0000), which cannot be stored."]
    }
    assert Cost.objects.get(pk=cost.pk).tags == {"env": "prod"}
    assert row_counts() == before


def test_nul_in_a_query_parameter(org, client_for):
    response = client_for(org.member).get(COSTS, {"tags": "env:\u0000"})
    assert response.status_code == 400
    assert response.json() == {
        "tags": ["The query parameter 'tags' contains a NUL character (\\u0000), which cannot "
                 "be stored."]
    }  # fmt: skip


def test_json_nan_and_infinity_literals_are_not_json(org, client_for, row_counts):
    before = row_counts()
    for literal in ("NaN", "Infinity", "-Infinity"):
        raw = json.dumps(cost_payload(org)).replace('"120.50"', literal)
        response = send(client_for(org.member), "post", COSTS, raw)
        assert response.status_code == 400
        assert f"{literal.lstrip('-')} is not valid JSON" in response.json()["detail"]
    assert row_counts() == before


def test_a_body_that_is_not_utf8(org, client_for):
    response = client_for(org.member).generic(
        "POST", COSTS, b'{"description": "\xff"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert "not valid utf-8 text" in response.json()["detail"]
