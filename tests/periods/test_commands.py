"""``costtrack cost add|list|update|generate`` and ``costtrack period
create|calculate|close|list``, through call_command and the installed console script."""

import json
import os
import subprocess  # nosec B404 - runs the project's own console script in a test
import sys
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from costs import services
from costs.models import Cost
from costs.period_models import AccountingPeriod, RecurringCost
from costs.periods import add_months, label_for
from costtrack.core.models import Job
from tests.orgunits.factories import UserFactory

from .factories import SEED_ITEMS

ROOT = Path(__file__).resolve().parents[2]
THIS_MONTH = label_for(timezone.localdate())
NEXT_MONTH = label_for(add_months(timezone.localdate(), 1))


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def admin(org):
    return UserFactory(username="admin", is_superuser=True, is_staff=True)


@pytest.fixture
def seeded(org, admin, eur_rates):
    for name, amount in SEED_ITEMS:
        run(
            "cost",
            "add",
            name,
            "--type",
            "monthly",
            "--amount",
            amount,
            "--currency",
            "EUR",
            "--start-date",
            "2025-01-01",
            "--unit",
            "platform",
            "--category",
            "saas",
        )
    return RecurringCost.objects.order_by("id")


def test_cost_add_with_every_option(org, admin):
    out, _ = run(
        "cost",
        "add",
        "SSL Certificate",
        "--type",
        "one_time",
        "--amount",
        "50.00",
        "--currency",
        "EUR",
        "--date",
        "2025-03-15",
        "--resource",
        str(org.resource.pk),
        "--category",
        "license",
        "--description",
        "wildcard",
        "--tag",
        "env=prod",
    )
    item = RecurringCost.objects.get()
    assert f"Added cost item #{item.pk} SSL Certificate: 50.00 EUR one_time from 2025-03-15." in out
    assert (item.cadence, item.amount, item.start_date) == (
        "one_time",
        Decimal("50.00"),
        date(2025, 3, 15),
    )
    assert (item.resource, item.organization_unit) == (org.resource, org.platform)
    assert (item.category.slug, item.tags, item.created_by) == ("license", {"env": "prod"}, admin)


def test_cost_add_json_defaults_to_the_root_unit(org, admin):
    out, _ = run(
        "cost",
        "add",
        "Domain",
        "--type",
        "annual",
        "--amount",
        "12",
        "--currency",
        "USD",
        "--start-date",
        "2025-01-01",
        "--json",
    )
    data = json.loads(out)
    assert (data["name"], data["type"], data["amount"], data["organization_unit"]) == (
        "Domain",
        "annual",
        "12.00",
        "acme",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--type", "weekly"], "invalid choice: 'weekly'"),
        (["--amount", "ten"], "'ten' is not an amount"),
        (["--amount", "10.001"], "amount: EUR allows at most 2 decimal places"),
        (["--currency", "XXZ"], "currency: Unknown currency 'XXZ'"),
        (["--start-date", "2025-02-30"], "'2025-02-30' is not a date"),
        (["--end-date", "2024-12-31"], "end_date: The end date cannot be before the start date"),
        (["--unit", "nope"], "unit: no organisation unit with code 'nope'"),
        (["--category", "nope"], "category: no category with slug 'nope'"),
        (["--user", "ghost"], "No user named 'ghost'"),
        (["--user", "member"], "Only finance staff may manage recurring costs"),
    ],
)
def test_cost_add_bad_arguments(org, admin, args, message):
    base = {
        "--type": "monthly",
        "--amount": "10.00",
        "--currency": "EUR",
        "--start-date": "2025-01-01",
        "--unit": "platform",
    }
    given = dict(zip(args[::2], args[1::2], strict=True))
    argv = [x for k, v in {**base, **given}.items() for x in (k, v)]
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        run("cost", "add", "Server", *argv)
    assert not RecurringCost.objects.exists()


def test_cost_add_needs_a_superuser_or_user(org):
    with pytest.raises(CommandError, match="No superuser exists"):
        run("cost", "add", "X", "--type", "monthly", "--amount", "1", "--start-date", "2025-01-01")


def test_cost_list_table_json_active_and_period(seeded, org, admin):
    run(
        "cost",
        "add",
        "Old tool",
        "--type",
        "monthly",
        "--amount",
        "3.00",
        "--currency",
        "EUR",
        "--start-date",
        "2024-01-01",
        "--end-date",
        "2024-12-31",
        "--unit",
        "platform",
    )
    old = RecurringCost.objects.get(name="Old tool")
    run("cost", "update", str(old.pk), "--inactive")

    table, _ = run("cost", "list", "--active")
    everything = json.loads(run("cost", "list", "--json")[0])
    march = json.loads(run("cost", "list", "--period", "2025-03", "--json")[0])
    inactive = json.loads(run("cost", "list", "--inactive", "--json")[0])

    lines = table.splitlines()
    assert lines[0].split() == [
        "ID",
        "NAME",
        "TYPE",
        "AMOUNT",
        "CURRENCY",
        "START",
        "END",
        "ACTIVE",
        "CATEGORY",
        "UNIT",
    ]
    assert "Hosteurope server" in table and "Old tool" not in table
    assert lines[-1] == "Total monthly: 87.00 EUR/month"
    assert len(everything) == 6
    assert sorted(i["name"] for i in march) == sorted(name for name, _ in SEED_ITEMS)
    assert [i["name"] for i in inactive] == ["Old tool"]
    with pytest.raises(CommandError, match="'2025-3' is not a period"):
        run("cost", "list", "--period", "2025-3")


def test_cost_update(seeded, admin):
    item = seeded.first()
    out, _ = run("cost", "update", str(item.pk), "--amount", "12.00", "--end-date", "2025-12-31")
    item.refresh_from_db()
    assert "Updated cost item" in out and "12.00 EUR monthly, active, ends 2025-12-31." in out
    assert (item.amount, item.end_date) == (Decimal("12.00"), date(2025, 12, 31))

    data = json.loads(run("cost", "update", str(item.pk), "--end-date", "none", "--json")[0])
    assert data["end_date"] is None
    with pytest.raises(CommandError, match="end_date: The end date cannot be before"):
        run("cost", "update", str(item.pk), "--end-date", "2024-01-01")
    with pytest.raises(CommandError, match="No recurring cost 999999"):
        run("cost", "update", "999999", "--amount", "1")
    with pytest.raises(CommandError, match="Nothing to change"):
        run("cost", "update", str(item.pk))
    with pytest.raises(CommandError, match="invalid int value: 'abc'"):
        run("cost", "update", "abc", "--amount", "1")


def test_period_create_and_list(org, admin):
    out, _ = run("period", "create", "2025-03")
    run("period", "create", "--start", "2025-04-01", "--end", "2025-04-30")
    assert "Created period 2025-03: 2025-03-01 – 2025-03-31." in out

    table, _ = run("period", "list")
    data = json.loads(run("period", "list", "--status", "open", "--json")[0])
    closed = json.loads(run("period", "list", "--status", "closed", "--json")[0])

    assert table.splitlines()[0].split() == [
        "PERIOD",
        "START",
        "END",
        "STATUS",
        "APPROVED",
        "CLOSED",
    ]
    assert [line.split()[0] for line in table.splitlines()[2:]] == ["2025-04", "2025-03"]
    assert [p["period"] for p in data] == ["2025-04", "2025-03"] and closed == []
    for args, message in [
        (["2025-03"], "The period 2025-03 already exists"),
        (["2025-13"], "period: '2025-13' is not a period"),
        (["--start", "2025-05-02"], "Periods run from 2025-05-01 to 2025-05-31"),
        ([], "Give the period as YYYY-MM"),
    ]:
        with pytest.raises(CommandError, match=message):
            run("period", "create", *args)
    with pytest.raises(CommandError, match="invalid choice: 'done'"):
        run("period", "list", "--status", "done")


def test_period_calculate_generates_and_shows_totals(seeded, admin):
    out, err = run("period", "calculate", "2025-03")
    again = json.loads(run("period", "calculate", "2025-03", "--json")[0])

    assert "Period 2025-03 (2025-03-01 – 2025-03-31), open" in out
    assert "Recurring costs generated now: 5" in out
    assert "Committed (pending): 104.40 USD" in out  # 87 EUR at 1.20
    assert "Recurring costs [" in err and "5/5" in err
    assert again["generated"] == 0
    assert again["totals"]["by_status"]["pending"]["count"] == 5
    assert Cost.objects.count() == 5
    with pytest.raises(CommandError, match="'03-2025' is not a period"):
        run("period", "calculate", "03-2025")


def test_period_close_refuses_pending_then_closes(seeded, org, admin):
    with pytest.raises(CommandError) as refused:
        run("period", "close", "2025-03")
    assert "The period 2025-03 still has 5 pending cost(s): #" in str(refused.value)
    assert "10.00 EUR on 2025-03-01 (Hosteurope server)" in str(refused.value)
    assert str(refused.value).endswith("(--allow-pending closes anyway)")
    for cost in Cost.objects.filter(status="pending"):
        services.cost_approve(cost=cost, acting_user=org.eng_owner)

    out, _ = run("period", "close", "2025-03")
    again, _ = run("period", "close", "2025-03")
    data = json.loads(run("period", "list", "--json")[0])

    assert "Period 2025-03 is closed." in out
    assert "Actual (approved): 104.40 USD" in out
    assert "allocation: run_id" in out
    assert "was already closed" in again
    assert data[0]["status"] == "closed" and data[0]["closed_by"] == "admin"


def test_period_close_with_pending_allowed(seeded, admin):
    out = json.loads(run("period", "close", "2025-02", "--allow-pending", "--json")[0])
    assert out["status"] == "closed"
    assert len(out["pending_at_close"]) == 5
    assert AccountingPeriod.objects.get(label="2025-02").status == "closed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2025-13"], "period: '2025-13' is not a period: write it as YYYY-MM"),
        (["March"], "period: 'March' is not a period"),
        ([THIS_MONTH], f"The period {THIS_MONTH} has not ended yet"),
        ([NEXT_MONTH], f"The period {NEXT_MONTH} has not ended yet"),
        ([NEXT_MONTH, "--queue"], f"The period {NEXT_MONTH} has not ended yet"),
        (["2025-03", "--user", "member"], "Only finance staff may manage accounting periods"),
        (["2025-03", "--user", "ghost"], "No user named 'ghost'"),
    ],
)
def test_period_close_bad_arguments_exit_non_zero_and_write_nothing(org, admin, args, message):
    with (
        mock.patch("costs.tasks.close_period.delay") as delay,
        pytest.raises(CommandError, match=message) as refused,
    ):
        run("period", "close", *args)

    assert refused.value.returncode == 1
    assert not AccountingPeriod.objects.exists()
    assert not Cost.objects.exists()
    delay.assert_not_called()


def test_period_close_of_an_existing_period_that_has_not_ended(org, admin):
    run("period", "create", THIS_MONTH)

    with pytest.raises(CommandError, match=f"The period {THIS_MONTH} has not ended yet"):
        run("period", "close", THIS_MONTH)

    assert AccountingPeriod.objects.get().status == "open"


def test_period_calculate_refused_writes_no_period(org, admin):
    with pytest.raises(CommandError, match="Only finance staff may manage accounting periods"):
        run("period", "calculate", "2025-03", "--user", "member")
    assert not AccountingPeriod.objects.exists()


def test_period_close_of_a_closed_period_says_so_and_changes_nothing(org, admin):
    run("period", "close", "2025-03")
    closed_at = AccountingPeriod.objects.get().closed_at

    again, _ = run("period", "close", "2025-03")
    with mock.patch("costs.tasks.close_period.delay") as delay:
        queued, _ = run("period", "close", "2025-03", "--queue")

    assert "Period 2025-03 was already closed." in again
    assert "Period 2025-03 is closed." in again
    assert queued.strip() == "Period 2025-03 was already closed."
    delay.assert_not_called()
    assert AccountingPeriod.objects.get().closed_at == closed_at


def test_period_close_queue_sends_the_task_and_closes_nothing_here(seeded, org, admin):
    out, _ = run("period", "close", "2025-02", "--queue", "--allow-pending")
    period = AccountingPeriod.objects.get(label="2025-02")
    assert out.strip() == "Close of 2025-02 sent to the workers."
    (job,) = Job.objects.all()
    assert (job.task, job.args) == ("costs.close_period", [period.pk, admin.pk, True])
    assert period.status == "open"
    assert not Cost.objects.exists()  # the worker generates, not the command

    services.cost_create(
        submitted_by=org.member,
        amount=Decimal("5.00"),
        currency="USD",
        incurred_on=date(2025, 2, 10),
        organization_unit=org.platform,
    )
    Job.objects.all().delete()
    with pytest.raises(CommandError, match="The period 2025-02 still has 1 pending cost"):
        run("period", "close", "2025-02", "--queue")
    assert not Job.objects.exists()


def test_period_close_shows_its_progress_and_steps(seeded, admin):
    out, err = run("period", "close", "2025-02", "--allow-pending")

    bar = "#" * 30
    assert err.startswith("\rRecurring costs [")
    assert err.endswith(f"\rRecurring costs [{bar}] 5/5\n")
    assert "1/5" in err
    lines = out.splitlines()
    assert lines[0] == "Period 2025-02 (2025-02-01 – 2025-02-28), closed; amounts in USD"
    assert "Committed (pending): 95.70 USD" in out  # 87 EUR at February's 1.10
    assert any(line.startswith("allocation: run_id ") for line in lines)
    assert lines[-2].startswith("Closed with pending costs: #")
    assert lines[-1] == "Period 2025-02 is closed."


def test_cost_list_needs_no_acting_user(org, eur_rates):
    from .factories import recurring

    recurring(acting_user=org.fin, organization_unit=org.platform, name="Platform tool")
    recurring(acting_user=org.fin, organization_unit=org.sales, name="Sales tool")

    everything = json.loads(run("cost", "list", "--json")[0])
    table, _ = run("cost", "list")
    mine = json.loads(run("cost", "list", "--json", "--user", "member")[0])

    assert [i["name"] for i in everything] == ["Platform tool", "Sales tool"]
    assert "Platform tool" in table and "Sales tool" in table
    assert [i["name"] for i in mine] == ["Platform tool"]
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        run("cost", "list", "--user", "ghost")


@pytest.mark.django_db(transaction=True)
def test_console_script_exit_codes(org):
    UserFactory(username="root", is_superuser=True)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "costtrack.settings.base",
    }
    env.pop("REDIS_URL", None)  # tasks run in-process
    script = Path(sys.executable).with_name("costtrack")
    assert script.is_file(), f"the costtrack console script is not installed at {script}"

    def cli(*args):
        return subprocess.run(  # nosec B603 - fixed argv, no shell
            [str(script), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )

    created = cli("period", "create", "2025-03")
    closed = cli("period", "close", "2025-03")
    listed = cli("period", "list", "--json")
    not_ended = cli("period", "close", THIS_MONTH)
    bad_choice = cli("period", "list", "--status", "done")
    bad_period = cli("period", "create", "2025-13")

    assert (created.returncode, closed.returncode, listed.returncode) == (0, 0, 0), closed.stderr
    assert "Created period 2025-03: 2025-03-01 – 2025-03-31." in created.stdout
    assert closed.stdout.rstrip().endswith("Period 2025-03 is closed.")
    assert [(p["period"], p["status"]) for p in json.loads(listed.stdout)] == [
        ("2025-03", "closed")
    ]
    assert not_ended.returncode == 1
    assert f"The period {THIS_MONTH} has not ended yet" in not_ended.stderr
    assert bad_choice.returncode == 2
    assert "invalid choice: 'done'" in bad_choice.stderr
    assert bad_period.returncode == 1
    assert "period: '2025-13' is not a period" in bad_period.stderr
    assert list(AccountingPeriod.objects.values_list("label", "status")) == [("2025-03", "closed")]


def test_cost_generate_books_once(seeded):
    out, err = run("cost", "generate", "--until", "2025-03-31")
    again = json.loads(run("cost", "generate", "--until", "2025-03-31", "--json")[0])

    assert "Generated 15 cost(s); 0 already booked" in out
    assert "5/5" in err
    assert (again["created"], again["existing"]) == (0, 15)
    assert Cost.objects.count() == 15
    with pytest.raises(CommandError, match="until: the last day cannot be before --since"):
        run("cost", "generate", "--since", "2025-03-01", "--until", "2025-02-01")
