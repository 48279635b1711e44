"""``costtrack reports ...`` (seed 004): readable tables, exports, clear errors."""

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from costs.models import CostStatus
from tests.budgets.factories import BudgetFactory
from tests.orgunits.factories import OrganizationUnitFactory, ResourceFactory

from .factories import CostCategoryFactory, CostFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    company = OrganizationUnitFactory(name="Co", code="co-cli")
    eng = OrganizationUnitFactory(name="Eng", code="eng-cli", parent=company)
    saas = CostCategoryFactory(slug="cli-saas")
    vm = ResourceFactory(organization_unit=eng, name="cli-vm")
    CostFactory(
        organization_unit=eng,
        category=saas,
        amount=Decimal("32.00"),
        incurred_on=date(2025, 1, 5),
        tags={"vendor": "bubble"},
    )
    CostFactory(
        organization_unit=eng,
        category=saas,
        resource=vm,
        amount=Decimal("10.00"),
        incurred_on=date(2025, 3, 1),
        tags={"vendor": "hosteurope"},
    )
    CostFactory(
        organization_unit=company,
        category=saas,
        amount=Decimal("5.00"),
        incurred_on=date(2025, 3, 31),
        description="=HYPERLINK()",
    )
    CostFactory(
        organization_unit=eng,
        amount=Decimal("20.00"),
        incurred_on=date(2025, 3, 2),
        status=CostStatus.PENDING,
    )
    BudgetFactory(name="Eng SaaS", organization_unit=eng, amount=Decimal("40"))
    return {"eng": eng}  # fmt: skip


def run(*args) -> str:
    out = io.StringIO()
    call_command("reports", *args, stdout=out)
    return out.getvalue()


def test_cost_summary_for_a_month(data):
    out = run("cost-summary", "--period", "2025-03")
    assert "Cost summary 2025-03-01 – 2025-03-31 (USD, approved)" in out
    assert "Total: 15.00 USD in 2 costs" in out
    assert "cli-saas  15.00" in out
    assert "cli-vm    10.00" in out
    assert "vendor=hosteurope  10.00" in out
    out = run("cost-summary", "--period", "2025-03", "--include-pending", "--unit", "eng-cli")
    assert "Total: 30.00 USD in 2 costs" in out


def test_cost_trends_month_by_month(data):
    out = run("cost-trends", "--start", "2025-01", "--end", "2025-03")
    lines = out.splitlines()
    assert lines[2:] == [
        "Month    Total    Change",
        "-------  -----  --------",
        "2025-01  32.00",
        "2025-02   0.00  -100.0 %",
        "2025-03  15.00",
        "Total    47.00",
    ]
    data_out = json.loads(run("cost-trends", "--start", "2025-02", "--end", "2025-03",
                              "--format", "json"))  # fmt: skip
    assert data_out == [
        {"month": "2025-02", "total": "0.00"},
        {"month": "2025-03", "total": "15.00"},
    ]
    csv_out = run("cost-trends", "--start", "2025-02", "--end", "2025-03", "--format", "csv")
    assert csv_out.splitlines() == [
        "month,total,currency",
        "2025-02,0.00,USD",
        "2025-03,15.00,USD",
    ]


def test_cost_summary_json_and_csv_in_minor_units(data):
    CostFactory(
        organization_unit=data["eng"],
        resource=ResourceFactory(organization_unit=data["eng"], name="=cmd|' /C calc'!A0"),
        amount=Decimal("1234.5"),
        incurred_on=date(2025, 3, 3),
    )

    got = json.loads(run("cost-summary", "--period", "2025-03", "--format", "json"))
    lines = run("cost-summary", "--period", "2025-03", "--format", "csv").splitlines()

    assert got["total"] == "1249.50"
    assert got["currency"] == "USD"
    assert got["by_category"]["cli-saas"] == "15.00"
    assert got["by_resource"] == {"=cmd|' /C calc'!A0": "1234.50", "cli-vm": "10.00"}
    assert got["by_tag"] == {"vendor": {"hosteurope": "10.00"}}
    assert (got["entry_count"], got["period_start"], got["period_end"]) == (
        3,
        "2025-03-01",
        "2025-03-31",
    )
    assert lines[0] == "dimension,key,total,currency"
    assert "total,,1249.50,USD" in lines
    assert "category,cli-saas,15.00,USD" in lines
    assert "resource,cli-vm,10.00,USD" in lines
    assert "resource,'=cmd|' /C calc'!A0,1234.50,USD" in lines  # no formula, no 1,234.50
    assert "tag,vendor=hosteurope,10.00,USD" in lines


def test_json_and_csv_follow_the_reporting_currencys_minor_unit(data, settings):
    from costs.models import ExchangeRate

    settings.REPORTING_CURRENCY = "JPY"
    ExchangeRate.objects.create(currency="USD", date=date(2020, 1, 1), rate=Decimal("150"))

    trend = json.loads(run("cost-trends", "--start", "2025-03", "--end", "2025-03",
                           "--format", "json"))  # fmt: skip
    summary = json.loads(run("cost-summary", "--period", "2025-03", "--format", "json"))

    # the factory's costs carry their stored reporting amounts: 15.00 becomes 15 yen
    assert trend == [{"month": "2025-03", "total": "15"}]
    assert (summary["total"], summary["currency"]) == ("15", "JPY")


def test_budget_variance(data):
    out = run("budget-variance", "--on", "2025-03-31")
    assert "Eng SaaS  2025-03-01 – 2025-03-31  40.00 USD   10.00      20.00     30.00" in out
    assert "10.00 (under)" in out


def test_budget_variance_json_and_csv(data):
    got = json.loads(run("budget-variance", "--on", "2025-03-31", "--format", "json"))
    lines = run("budget-variance", "--on", "2025-03-31", "--format", "csv").splitlines()

    row = got[0]
    assert (row["amount"], row["actual"], row["committed"], row["forecast"]) == (
        "40.00",
        "10.00",
        "20.00",
        "30.00",
    )
    assert (row["variance"], row["utilization_pct"], row["status"]) == ("10.00", "75.00", "under")
    assert lines[0].startswith("budget_id,budget,organization_unit,period,period_start")
    assert ",Eng SaaS,Eng,monthly,2025-03-01,2025-03-31,USD,40.00,10.00,20.00,30.00," in lines[1]


def test_export_json_to_stdout_is_one_clean_document(data):
    out = run("export", "--format", "json", "--output", "-", "--period", "2025-03")

    assert out.startswith("[\n  {") and out.endswith("}\n]\n")
    assert [(r["amount"], r["amount_reporting"]) for r in json.loads(out)] == [
        ("10.00", "10.00"),
        ("5.00", "5.00"),
    ]


def test_export_csv_and_json(data, tmp_path):
    target = tmp_path / "costs_2025_q1.csv"
    out = run("export", "--format", "csv", "--output", str(target), "--period", "2025-Q1")
    assert f"Wrote 3 costs to {target}." in out
    rows = list(csv.DictReader(target.open()))
    assert [r["amount"] for r in rows] == ["32.00", "10.00", "5.00"]
    assert rows[2]["description"] == "'=HYPERLINK()"  # no formula injection
    target = tmp_path / "all.json"
    run("export", "--format", "json", "--output", str(target), "--status", "all")
    exported = json.loads(target.read_text())
    assert sorted(r["status"] for r in exported) == ["approved"] * 3 + ["pending"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["cost-summary", "--period", "March"], "--period 'March' is not a period"),
        (["cost-summary", "--period", "2025-13"], "is not a period"),
        (["cost-trends", "--start", "2025-03", "--end", "2025-01"], "--end is before --start"),
        (["cost-summary", "--unit", "nope"], "no unit with code 'nope'"),
        (["budget-variance", "--periods", "0"], "between 1 and 24"),
        (["export", "--format", "csv", "--output", "/nonexistent/dir/x.csv"], "cannot write"),
        (["cost-summary", "--start", "2025-01-01"], "Give both --start and --end"),
    ],
)
def test_bad_arguments_fail_clearly(data, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
