from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from costs import services
from costs.models import Cost, CostEvent, ExchangeRate
from costtrack.core.exceptions import PermissionDenied, ValidationError
from tests.costs.factories import make_cost

pytestmark = pytest.mark.django_db


def cost_in(org, currency, amount, day):
    return make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        currency=currency,
        amount=amount,
        incurred_on=day,
    )


def test_conversion_uses_latest_rate_on_or_before_the_day(org, eur_rates):
    before = cost_in(org, "EUR", "100.00", date(2025, 2, 28))
    on_day = cost_in(org, "EUR", "100.00", date(2025, 3, 1))
    assert (before.amount_reporting, before.exchange_rate) == (Decimal("110.00"), Decimal("1.1"))
    assert (on_day.amount_reporting, on_day.exchange_rate) == (Decimal("120.00"), Decimal("1.2"))


def test_conversion_rounds_half_even_to_reporting_minor_unit(org):
    ExchangeRate.objects.create(currency="JPY", date=date(2025, 1, 1), rate=Decimal("0.006725"))
    cost = cost_in(org, "JPY", "1000", date(2025, 3, 1))
    assert cost.amount_reporting == Decimal("6.72")  # 6.725 -> 6.72 (half-even)
    credit = cost_in(org, "JPY", "-1000", date(2025, 3, 1))
    assert credit.amount_reporting == Decimal("-6.72")


def test_btc_with_eight_decimals(org):
    ExchangeRate.objects.create(currency="BTC", date=date(2025, 1, 1), rate=Decimal("65000"))
    cost = cost_in(org, "BTC", "0.00012345", date(2025, 3, 1))
    assert cost.amount_reporting == Decimal("8.02")  # 8.02425


def test_reconvert_after_rate_change(org, eur_rates):
    old = cost_in(org, "EUR", "100.00", date(2024, 6, 1))
    new = cost_in(org, "EUR", "100.00", date(2025, 3, 10))
    gbp = cost_in(org, "GBP", "100.00", date(2025, 3, 10))
    usd = cost_in(org, "USD", "100.00", date(2025, 3, 10))
    ExchangeRate.objects.filter(currency="EUR", date=date(2025, 3, 1)).update(rate=Decimal("1.3"))
    assert services.costs_reconvert(currency="EUR", since=date(2025, 1, 1)) == 1
    new.refresh_from_db(fields=["amount_reporting", "exchange_rate"])
    old.refresh_from_db(fields=["amount_reporting"])
    assert new.amount_reporting == Decimal("130.00") and new.exchange_rate == Decimal("1.3")
    assert old.amount_reporting == Decimal("110.00")
    event = CostEvent.objects.get(cost=new, action="reconvert")
    assert event.changes["amount_reporting"] == ["120.00000000", "130.00"]
    assert services.costs_reconvert() == 0  # nothing else changed
    assert CostEvent.objects.filter(action="reconvert").count() == 1
    for cost in (gbp, usd):
        assert not CostEvent.objects.filter(cost=cost, action="reconvert").exists()


def test_reconvert_task_runs_after_rate_set(org, eur_rates, django_capture_on_commit_callbacks):
    cost = cost_in(org, "EUR", "10.00", date(2025, 3, 10))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.exchange_rate_set(
            currency="EUR", date=date(2025, 3, 5), rate=Decimal("1.5"), acting_user=org.fin
        )
    assert len(callbacks) == 1
    cost.refresh_from_db(fields=["amount_reporting"])
    assert cost.amount_reporting == Decimal("15.00")


def test_rate_set_needs_finance_and_valid_values(org):
    with pytest.raises(PermissionDenied):
        services.exchange_rate_set(
            currency="EUR", date=date(2025, 1, 1), rate=Decimal("1"), acting_user=org.member
        )
    for currency, rate, field in (
        ("XXQ", "1", "currency"),
        ("USD", "1", "currency"),
        ("EUR", "0", "rate"),
        ("EUR", "NaN", "rate"),
        ("EUR", "abc", "rate"),
    ):
        with pytest.raises(ValidationError) as exc:
            services.exchange_rate_set(currency=currency, date=date(2025, 1, 1), rate=rate)
        assert exc.value.field == field
    assert ExchangeRate.objects.count() == 0


GOOD = """date,currency,rate
2025-01-01,EUR,1.10
2025-01-01,gbp,1.25
2025-02-01,EUR,1.12
"""


def test_load_good_csv(org, tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text(GOOD)
    assert services.exchange_rates_load_csv(path) == 3
    assert ExchangeRate.objects.get(currency="GBP").rate == Decimal("1.25")
    # loading again replaces, never duplicates
    path.write_text("date,currency,rate\n2025-02-01,EUR,1.15\n")
    assert services.exchange_rates_load_csv(path) == 1
    assert ExchangeRate.objects.count() == 3
    assert ExchangeRate.objects.get(currency="EUR", date=date(2025, 2, 1)).rate == Decimal("1.15")


def test_bad_csv_names_lines_and_writes_nothing(org, tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text(
        "date,currency,rate\n"
        "2025-01-01,EUR,1.10\n"
        "2025-13-01,EUR,1.10\n"
        "2025-01-02,XXQ,1.10\n"
        "2025-01-03,EUR,-2\n"
    )
    with pytest.raises(ValidationError) as exc:
        services.exchange_rates_load_csv(path)
    errors = exc.value.extra["errors"]
    assert [e.split(":")[0] for e in errors] == ["Line 3", "Line 4", "Line 5"]
    assert "XXQ" in errors[1]
    assert ExchangeRate.objects.count() == 0


def test_csv_without_header(org, tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text("2025-01-01,EUR,1.10\n")
    with pytest.raises(ValidationError) as exc:
        services.exchange_rates_load_csv(path)
    assert "Line 1" in exc.value.message


def test_rates_command(org, tmp_path, capsys):
    path = tmp_path / "rates.csv"
    path.write_text(GOOD)
    call_command("rates", "load", str(path))
    assert "Loaded 3 rate(s) to USD" in capsys.readouterr().out
    call_command("rates", "list")
    out = capsys.readouterr().out
    assert "2025-02-01 EUR 1.120000000000 USD" in out and "GBP" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("date,currency,rate\nnope,EUR,1\n")
    with pytest.raises(CommandError, match="Line 2"):
        call_command("rates", "load", str(bad))
    with pytest.raises(CommandError, match="No such file"):
        call_command("rates", "load", str(tmp_path / "missing.csv"))
    assert ExchangeRate.objects.count() == 3
    assert Cost.objects.count() == 0
