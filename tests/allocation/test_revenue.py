"""Revenue: recording a figure, loading a CSV (all or nothing, idempotent), reconversion."""

import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from allocation import services
from allocation.models import CostNode, Revenue
from costs import services as cost_services
from costs.models import ExchangeRate
from costtrack.core.exceptions import PermissionDenied, ValidationError
from tests.orgunits.factories import UserFactory, auditor_user, finance_user

from .factories import node

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def products():
    ExchangeRate.objects.create(currency="EUR", date=date(2025, 1, 1), rate=D("1.20"))
    ExchangeRate.objects.create(currency="EUR", date=date(2025, 3, 10), rate=D("1.25"))
    return {
        "web": node("web"),
        "api": node("api"),
        "k8s": node("k8s", CostNode.Kind.PLATFORM),
    }


def rows():
    return sorted(
        (
            r.node.name,
            r.date.isoformat(),
            r.grain,
            str(r.amount),
            r.currency,
            str(r.amount_reporting),
        )
        for r in Revenue.objects.select_related("node")
    )


def test_a_figure_is_converted_and_a_second_one_for_the_same_key_replaces_it(products):
    web = products["web"]
    first = services.revenue_set(
        node=web, date=date(2025, 3, 12), amount=D("10.00"), currency="eur"
    )
    assert (first.currency, first.amount_reporting, first.exchange_rate) == (
        "EUR",
        D("12.50"),
        D("1.25"),
    )
    again = services.revenue_set(node=web, date=date(2025, 3, 12), amount=D("20.00"))
    assert again.pk == first.pk
    assert rows() == [("web", "2025-03-12", "day", "20.00000000", "USD", "20.00000000")]
    month = services.revenue_set(node=web, date=date(2025, 3, 1), grain="month", amount=D("5"))
    assert month.pk != first.pk  # a month is another key than its first day


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"node": "k8s"}, "node", "Revenue belongs to products; 'k8s' is a platform."),
        ({"currency": "XXQ"}, "currency", "Unknown currency 'XXQ'."),
        ({"amount": "1.001"}, "amount", "USD allows at most 2 decimal places."),
        ({"amount": "NaN"}, "amount", "The amount must be a finite number (not NaN or Infinity)."),
        ({"amount": "1e12"}, "amount", "The amount must be smaller than 10^12 in absolute value."),
        ({"grain": "month"}, "date", "A month's revenue is dated on the first of the month."),
        ({"date": date(1999, 12, 31)}, "date", "1999-12-31 is outside 2000–2100."),
        ({"currency": "GBP"}, "currency", None),  # no rate was ever loaded
    ],
)
def test_bad_figures_are_refused_naming_the_field(products, fields, field, message):
    args = {
        "node": products["web"],
        "date": date(2025, 3, 12),
        "amount": D("1.00"),
        "currency": "USD",
    }
    args.update({k: products[v] if k == "node" else v for k, v in fields.items()})
    if isinstance(args["amount"], str):
        args["amount"] = D(args["amount"])
    with pytest.raises(ValidationError) as exc:
        services.revenue_set(**args)
    assert exc.value.field == field
    if message:
        assert exc.value.message == message
    assert not Revenue.objects.exists()


def test_only_finance_records_revenue(products):
    for user in (UserFactory(), auditor_user()):
        with pytest.raises(PermissionDenied):
            services.revenue_set(
                node=products["web"], date=date(2025, 3, 1), amount=D("1"), acting_user=user
            )
    services.revenue_set(
        node=products["web"], date=date(2025, 3, 1), amount=D("1"), acting_user=finance_user()
    )
    assert Revenue.objects.count() == 1


GOOD = """date,node,amount,currency
2025-03-01,web,100.00,USD
2025-03-12,web,10.00,EUR
2025-03,{api},3000,USD
"""


def test_a_csv_loads_by_name_or_id_days_and_months(products):
    result = services.revenue_load_csv(io.StringIO(GOOD.format(api=products["api"].pk)))
    assert result.as_dict() == {"rows": 3, "created": 3, "replaced": 0, "unchanged": 0}
    assert rows() == [
        ("api", "2025-03-01", "month", "3000.00000000", "USD", "3000.00000000"),
        ("web", "2025-03-01", "day", "100.00000000", "USD", "100.00000000"),
        ("web", "2025-03-12", "day", "10.00000000", "EUR", "12.50000000"),
    ]


def test_loading_the_same_file_again_changes_nothing_and_a_new_figure_replaces(products):
    text = GOOD.format(api="api")
    services.revenue_load_csv(io.StringIO(text))
    before = rows()
    assert services.revenue_load_csv(io.StringIO(text)).as_dict() == {
        "rows": 3, "created": 0, "replaced": 0, "unchanged": 3,
    }  # fmt: skip
    assert rows() == before
    changed = text.replace("2025-03-01,web,100.00,USD", "2025-03-01,web,150.00,USD")
    result = services.revenue_load_csv(io.StringIO(changed + "2025-03-02,web,1.00,USD\n"))
    assert result.as_dict() == {"rows": 4, "created": 1, "replaced": 1, "unchanged": 2}
    assert ("web", "2025-03-01", "day", "150.00000000", "USD", "150.00000000") in rows()
    assert Revenue.objects.count() == 4


def test_a_bad_file_is_refused_whole_with_every_bad_line(products):
    services.revenue_load_csv(io.StringIO("date,node,amount,currency\n2025-03-01,web,1.00,USD\n"))
    bad = (
        "date,node,amount,currency\n"
        "2025-03-02,web,5.00,USD\n"  # line 2: fine, but not loaded either
        "2025-02-30,web,1.00,USD\n"  # line 3
        "2025-03-03,nobody,1.00,USD\n"  # line 4
        "2025-03-03,k8s,1.00,USD\n"  # line 5
        "2025-03-03,api,1.001,USD\n"  # line 6
        "2025-03-03,api,1.00,GBP\n"  # line 7: no GBP rate
        "2025-03-02,web,6.00,USD\n"  # line 8: the same key as line 2
    )
    with pytest.raises(ValidationError) as exc:
        services.revenue_load_csv(io.StringIO(bad))
    assert exc.value.code == "invalid_rows" and exc.value.field == "file"
    assert exc.value.extra["errors"] == [
        "Line 3: date: '2025-02-30' is not a date: give a day (YYYY-MM-DD) or a month (YYYY-MM).",
        "Line 4: no node named (or with id) 'nobody'.",
        "Line 5: node: Revenue belongs to products; 'k8s' is a platform.",
        "Line 6: amount: USD allows at most 2 decimal places.",
        "Line 7: currency: No exchange rate for GBP on or before 2025-03-03; load one before "
        "recording amounts in GBP.",
        "Line 8: 'web' 2025-03-02 is on line 2 already.",
    ]
    assert exc.value.message.startswith("6 row(s) refused, nothing was loaded. Line 3:")
    assert rows() == [("web", "2025-03-01", "day", "1.00000000", "USD", "1.00000000")]


def test_a_file_without_the_columns_or_rows_is_refused(products):
    with pytest.raises(ValidationError) as exc:
        services.revenue_load_csv(io.StringIO("day,product,amount\n2025-03-01,web,1\n"))
    assert exc.value.message == (
        "The file needs the columns date,node,amount,currency; missing: date, node, currency."
    )
    with pytest.raises(ValidationError) as exc:
        services.revenue_load_csv(io.StringIO("date,node,amount,currency\n"))
    assert exc.value.message == "The file has no revenue rows."


def test_a_load_runs_a_fixed_number_of_queries(products, django_assert_max_num_queries):
    lines = ["date,node,amount,currency"]
    for day in range(1, 29):
        lines += [f"2025-02-{day:02d},web,{day}.00,USD", f"2025-02-{day:02d},api,{day}.50,EUR"]
    with django_assert_max_num_queries(10):
        result = services.revenue_load_csv(io.StringIO("\n".join(lines) + "\n"))
    assert result.created == 56


def test_a_rate_change_reconverts_revenue(products, django_capture_on_commit_callbacks):
    web = products["web"]
    services.revenue_set(node=web, date=date(2025, 3, 12), amount=D("10.00"), currency="EUR")
    services.revenue_set(node=web, date=date(2025, 3, 5), amount=D("10.00"), currency="EUR")
    with django_capture_on_commit_callbacks(execute=True):
        cost_services.exchange_rate_set(currency="EUR", date=date(2025, 3, 11), rate=D("1.5"))
    got = dict(Revenue.objects.values_list("date", "amount_reporting"))
    assert got == {date(2025, 3, 12): D("15.00"), date(2025, 3, 5): D("12.00")}  # before: 1.20


def test_the_command_loads_a_file_and_reports_bad_lines(products, tmp_path, capsys):
    path = tmp_path / "revenue.csv"
    path.write_text(GOOD.format(api="api"), encoding="utf-8")
    call_command("revenue", "load", str(path))
    out = capsys.readouterr().out
    assert "Loaded 3 revenue row(s)" in out and "3 new, 0 replaced, 0 unchanged" in out
    call_command("revenue", "load", str(path))
    assert "0 new, 0 replaced, 3 unchanged" in capsys.readouterr().out
    path.write_text("date,node,amount,currency\n2025-03-01,nobody,1,USD\n", encoding="utf-8")
    with pytest.raises(CommandError) as exc:
        call_command("revenue", "load", str(path))
    assert (
        str(exc.value) == "The file was not loaded:\nLine 2: no node named (or with id) 'nobody'."
    )
    with pytest.raises(CommandError, match="No such file"):
        call_command("revenue", "load", str(tmp_path / "missing.csv"))
    call_command("revenue", "list", "--period", "2025-03", "--node", "web")
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and listed[0].startswith("2025-03-12  web")
