"""CSV export of the cost list: GET /api/v1/costs/?format=csv."""

import csv
import io
from datetime import date

import pytest

from costs.export import COST_CSV_FIELDS
from tests.costs.factories import category, make_cost

pytestmark = pytest.mark.django_db

URL = "/api/v1/costs/"


def _body(response) -> str:
    if not hasattr(response, "_csv_body"):
        raw = b"".join(response.streaming_content) if response.streaming else response.content
        response._csv_body = raw.decode("utf-8")
    return response._csv_body


def _rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_body(response))))


def _header(response) -> list[str]:
    return next(csv.reader(io.StringIO(_body(response))))


@pytest.fixture
def costs(org, eur_rates):
    return {
        "eur": make_cost(
            submitted_by=org.member,
            resource=org.resource,
            amount="120.50",
            currency="EUR",
            incurred_on=date(2025, 3, 2),
            description='=HYPERLINK("http://x")',
            tags={"env": "prod", "team": "db"},
        ),
        "usd": make_cost(
            submitted_by=org.member,
            organization_unit=org.platform,
            amount="7.25",
            incurred_on=date(2025, 2, 1),
            category=category("saas"),
            status="approved",
        ),
        "sales": make_cost(
            submitted_by=org.sales_member, organization_unit=org.sales, amount="99.00"
        ),
    }


def test_csv_has_a_header_and_one_row_per_cost_with_plain_decimals(client_for, org, costs):
    response = client_for(org.fin).get(URL, {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert _header(response) == COST_CSV_FIELDS
    rows = {int(r["id"]): r for r in _rows(response)}
    assert set(rows) == {c.pk for c in costs.values()}
    eur = rows[costs["eur"].pk]
    assert eur["amount"] == "120.50" and eur["currency"] == "EUR"
    assert eur["amount_reporting"] == "144.60" and eur["reporting_currency"] == "USD"
    assert eur["exchange_rate"] == "1.2"
    assert eur["status"] == "pending" and eur["incurred_on"] == "2025-03-02"
    assert eur["organization_unit"] == "platform" and eur["resource"] == "db-1"
    assert eur["entity"] == "" and eur["provider"] == "aws"
    assert eur["submitted_by"] == "member" and eur["approver"] == "res_owner"
    assert eur["tags"] == "env=prod;team=db"
    # a formula in user text is neutralised for spreadsheets
    assert eur["description"] == '\'=HYPERLINK("http://x")'
    usd = rows[costs["usd"].pk]
    assert usd["amount"] == "7.25" and usd["category"] == "saas" and usd["status"] == "approved"
    assert usd["decided_by"] and usd["decided_at"]


def test_csv_honours_the_filters(client_for, org, costs):
    client = client_for(org.fin)

    def ids(**params):
        return {int(r["id"]) for r in _rows(client.get(URL, {"format": "csv", **params}))}

    assert ids(status="approved") == {costs["usd"].pk}
    assert ids(currency="eur") == {costs["eur"].pk}
    assert ids(category="saas") == {costs["usd"].pk}
    assert ids(organization_unit=org.eng.pk, include_descendants="true") == {
        costs["eur"].pk,
        costs["usd"].pk,
    }
    assert ids(incurred_after="2025-03-01") == {costs["eur"].pk, costs["sales"].pk}
    assert ids(tags="team:db") == {costs["eur"].pk}
    assert ids(resource=org.resource.pk, ordering="amount") == {costs["eur"].pk}


def test_csv_is_every_row_not_one_page(client_for, org, costs):
    response = client_for(org.fin).get(URL, {"format": "csv", "limit": 1})
    assert len(_rows(response)) == 3


def test_csv_only_holds_what_the_user_may_see(client_for, org, costs):
    rows = _rows(client_for(org.sales_member).get(URL, {"format": "csv"}))
    assert [int(r["id"]) for r in rows] == [costs["sales"].pk]
    rows = _rows(client_for(org.res_owner).get(URL, {"format": "csv"}))
    assert {int(r["id"]) for r in rows} == {costs["eur"].pk}
    # nothing to see: still the header
    response = client_for(org.delegate).get(URL, {"format": "csv"})
    assert response.status_code == 200 and _header(response) == COST_CSV_FIELDS
    assert _rows(response) == []


def test_csv_bad_filter_is_a_400_naming_the_field(client_for, org, costs):
    response = client_for(org.fin).get(URL, {"format": "csv", "status": "lost"})
    assert response.status_code == 400
    assert "status" in response.content.decode()


def test_a_misspelt_filter_is_a_400_naming_it_not_an_export_of_everything(client_for, org, costs):
    client = client_for(org.fin)
    response = client.get(URL, {"format": "csv", "incurred_on_after": "2025-03-01"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "incurred_on_after" in body and "Unknown query parameter" in body
    assert str(costs["usd"].pk) not in body.splitlines()[1:]
    response = client.get(URL, {"organisation_unit": org.eng.pk, "limit": 5})
    assert response.status_code == 400
    assert response.json() == {"organisation_unit": ["Unknown query parameter of the cost list."]}
    # what the list does know passes: filters, ordering, both kinds of pages
    ok = client.get(URL, {"incurred_after": "2025-03-01", "ordering": "amount", "limit": 5})
    assert ok.status_code == 200 and ok.json()["count"] == 2


def test_csv_needs_authentication(api_client, costs):
    assert api_client.get(URL, {"format": "csv"}).status_code == 401


def test_csv_export_runs_a_bounded_number_of_queries(
    client_for, org, costs, django_assert_max_num_queries
):
    for i in range(20):
        make_cost(submitted_by=org.member, resource=org.resource, amount=f"{i + 1}.00")
    client = client_for(org.member)
    with django_assert_max_num_queries(8):
        response = client.get(URL, {"format": "csv"})
        rows = _rows(response)
    assert len(rows) == 22


def test_json_list_is_unchanged(client_for, org, costs):
    response = client_for(org.fin).get(URL)
    assert response.status_code == 200
    assert response.json()["count"] == 3
