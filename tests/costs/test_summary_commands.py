"""``costtrack summaries check|rebuild|purge``: what an operator sees when the spend summary
is right, wrong, repaired, or asked something it cannot do."""

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F

from costs import services
from costs.models import (
    Cost,
    SpendDay,
    SpendDayDetail,
    SpendDayTag,
    SpendMonth,
    SpendMonthTag,
)
from costs.summary.check import summary_differences
from costs.summary.grains import GRAINS

from .factories import category, make_cost

pytestmark = pytest.mark.django_db

MODELS = tuple(grain.model for grain in GRAINS)
JAN, FEB, MAR = date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("summaries", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(*args) -> tuple[str, str]:
    """Run a command that must fail; return (message, stderr)."""
    err = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("summaries", *args, stdout=StringIO(), stderr=err)
    assert exc.value.returncode == 1  # the shell sees exit status 1
    return str(exc.value), err.getvalue()


def repaired() -> None:
    """``rebuild`` puts every table right again: ``check`` passes."""
    run("rebuild")
    out, err = run("check")
    assert out.strip() == "The spend summary equals the costs for all months." and err == ""


def snapshot(*, ids: bool = True) -> dict[str, list[dict]]:
    """Every summary row of every table, as values (without the ids when told)."""
    out = {}
    for model in MODELS:
        rows = list(model.objects.values())
        if not ids:
            for row in rows:
                del row["id"]
        out[model._meta.db_table] = sorted(rows, key=lambda r: sorted(map(str, r.items())))
    return out


@pytest.fixture
def spend(org):
    """Approved and pending costs in January, February and March 2025, some tagged, one on
    the resource, and a cancelled one (in the summary under its status, in no spend)."""
    compute = category("compute")
    rows = [
        ("approved", "100.00", date(2025, 1, 10), {"organization_unit": org.platform}, {}),
        ("approved", "20.50", date(2025, 1, 31), {"resource": org.resource}, {"team": "web"}),
        ("pending", "7.25", date(2025, 2, 10), {"organization_unit": org.platform}, {}),
        ("approved", "3.10", date(2025, 2, 10), {"entity": org.entity}, {"team": "data"}),
        ("approved", "44.00", date(2025, 3, 3), {"organization_unit": org.platform}, {}),
        ("cancelled", "999.00", date(2025, 3, 3), {"organization_unit": org.platform}, {}),
    ]
    costs = []
    for status, amount, day, target, tags in rows:
        costs.append(
            make_cost(
                status=status,
                submitted_by=org.member,
                decider=org.fin,
                amount=amount,
                incurred_on=day,
                category=compute,
                tags=tags,
                **target,
            )
        )
    return costs


def test_check_passes_when_the_summary_equals_the_costs(spend):
    out, err = run("check")
    assert out.strip() == "The spend summary equals the costs for all months."
    assert err == ""
    out, _ = run("check", "--from", "2025-02-14", "--to", "2025-03-02")
    assert out.strip() == "The spend summary equals the costs for 2025-02-01 to 2025-03-31."


def test_check_names_a_wrong_month_row_and_fails(org, spend):
    SpendMonth.objects.filter(month=FEB, status="approved").update(amount=F("amount") + 1)
    message, err = refused("check")
    assert message == (
        "The spend summary differs from the costs in 1 rows shown (all months); "
        "run 'costtrack summaries rebuild' to repair it."
    )
    compute = category("compute")
    assert err.strip() == (
        f"costs_spend_month (month=2025-02-01, organization_unit_id={org.platform.pk}, "
        f"category_id={compute.pk}, currency=USD, status=approved): summary has amount "
        "4.10000000, reporting 3.10000000, 1 costs; costs give amount 3.10000000, "
        "reporting 3.10000000, 1 costs"
    )
    # a range without that month still passes; one with it fails
    assert run("check", "--to", "2025-01-31")[0].startswith("The spend summary equals")
    assert "costs_spend_month (month=2025-02-01" in refused("check", "--from", "2025-02-01")[1]
    repaired()


def test_check_names_a_missing_day_row(org, spend):
    SpendDay.objects.filter(day=date(2025, 1, 31)).delete()
    _, err = refused("check")
    compute = category("compute")
    assert err.strip() == (
        f"costs_spend_day (day=2025-01-31, organization_unit_id={org.platform.pk}, "
        f"category_id={compute.pk}, currency=USD, status=approved): summary has no row; "
        "costs give amount 20.50000000, reporting 20.50000000, 1 costs"
    )
    repaired()


def test_check_names_a_row_the_costs_do_not_have(org, spend):
    # the tag rows of the cost's own unit (its ancestors have rows of their own)
    row = SpendMonthTag.objects.get(
        tag_key="team",
        tag_value="web",
        status="approved",
        organization_unit=spend[1].organization_unit,
    )
    SpendMonthTag.objects.filter(pk=row.pk).update(tag_value="webb")
    _, err = refused("check")
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert "costs_spend_month_tag (month=2025-01-01" in lines[0]
    assert "tag_key=team, tag_value=web," in lines[0] and lines[0].endswith(
        "summary has no row; costs give amount 20.50000000, reporting 20.50000000, 1 costs"
    )
    assert "tag_value=webb," in lines[1] and lines[1].endswith("costs give no row")
    repaired()


def test_check_sees_a_wrong_amount_on_a_row_whose_costs_all_left(org, spend):
    """A row whose costs all left (entries 0) still adds its amount to the next cost of its
    key, so a wrong amount there is a difference, shown with plain decimals."""
    # the cancelled March cost left its pending row with nothing in it
    row = SpendMonth.objects.get(month=MAR, status="pending")
    assert (row.entries, row.amount) == (0, 0)
    SpendMonth.objects.filter(pk=row.pk).update(amount=F("amount") + 1)
    message, err = refused("check")
    assert "in 1 rows shown" in message
    assert err.strip() == (
        f"costs_spend_month (month=2025-03-01, organization_unit_id={org.platform.pk}, "
        f"category_id={category('compute').pk}, currency=USD, status=pending): summary has "
        "amount 1.00000000, reporting 0.00000000, 0 costs; costs give no row"
    )
    # what the check would otherwise miss: the next pending cost there reads one too many
    make_cost(
        status="pending",
        submitted_by=org.member,
        amount="5.00",
        incurred_on=date(2025, 3, 20),
        category=category("compute"),
        organization_unit=org.platform,
    )
    assert SpendMonth.objects.get(pk=row.pk).amount == Decimal("6.00")
    repaired()
    assert not SpendMonth.objects.filter(pk=row.pk).exists()


def test_rebuild_repairs_every_table(spend):
    # what the services wrote, less the rows whose costs all left (the rebuild purges them)
    before = {t: [r for r in rows if r["entries"]] for t, rows in snapshot(ids=False).items()}
    SpendMonth.objects.filter(month=JAN).exclude(entries=0).update(amount=F("amount") + 1)
    SpendDay.objects.filter(day=date(2025, 2, 10)).delete()
    SpendDayDetail.objects.filter(day=date(2025, 3, 3)).update(entries=F("entries") + 2)
    SpendDayTag.objects.all().delete()
    assert len(summary_differences()) >= 4
    out, err = run("rebuild")
    assert out.strip() == "Rebuilt the spend summary for all months: 6 costs."
    assert err == ""
    assert run("check")[0].startswith("The spend summary equals the costs for all months")
    # the same rows as the services had written, value for value (ids aside)
    assert snapshot(ids=False) == before


def test_rebuild_of_a_range_touches_only_its_months(spend):
    SpendMonth.objects.filter(month=JAN).exclude(entries=0).update(amount=F("amount") + 1)
    SpendMonth.objects.filter(month=MAR, status="approved").update(amount=F("amount") + 1)
    march = list(SpendMonth.objects.filter(month=MAR).values_list("pk", "amount"))
    out, _ = run("rebuild", "--from", "2025-01-10", "--to", "2025-01-20")
    assert out.strip() == "Rebuilt the spend summary for 2025-01-01 to 2025-01-31: 2 costs."
    assert run("check", "--from", "2025-01-01", "--to", "2025-02-28")[0].startswith(
        "The spend summary equals"
    )
    message, err = refused("check")
    assert "in 1 rows shown (all months)" in message
    assert err.startswith("costs_spend_month (month=2025-03-01,")
    # March kept its (wrong) row as it was
    assert list(SpendMonth.objects.filter(month=MAR).values_list("pk", "amount")) == march
    assert (Decimal("45.00"), 1) in [
        (amount, entries)
        for amount, entries in SpendMonth.objects.filter(month=MAR).values_list("amount", "entries")
    ]
    run("rebuild", "--from", "2025-03-01")
    repaired()


@pytest.mark.parametrize("action", ["rebuild", "check"])
def test_a_reversed_range_is_refused_and_changes_nothing(spend, action):
    SpendMonth.objects.filter(month=JAN).exclude(entries=0).update(amount=F("amount") + 1)
    before = snapshot()
    message, err = refused(action, "--from", "2025-03-01", "--to", "2025-01-01")
    assert message == "The range is reversed: --to 2025-01-01 is before --from 2025-03-01."
    assert err == ""
    assert snapshot() == before  # the corrupted January row is still there: nothing ran
    repaired()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("check", "--from", "2025-13-01"), "'2025-13-01' is not a date (YYYY-MM-DD)"),
        (("rebuild", "--to", "yesterday"), "'yesterday' is not a date (YYYY-MM-DD)"),
        (("check", "--bogus"), "unrecognized arguments: --bogus"),
        (("purge", "--from", "2025-01-01"), "unrecognized arguments: --from 2025-01-01"),
        (("rebuild", "--limit", "3"), "unrecognized arguments: --limit 3"),
        (("repair",), "invalid choice: 'repair'"),
        (("check", "--limit", "many"), "invalid int value: 'many'"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(spend, args, message):
    before = snapshot()
    text, _ = refused(*args)
    assert message in text
    assert snapshot() == before


def test_an_action_is_required(spend):
    text, _ = refused()
    assert "the following arguments are required: action" in text


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_limit_below_one_is_refused(spend, limit):
    SpendMonth.objects.filter(month=JAN).exclude(entries=0).update(amount=F("amount") + 1)
    message, err = refused("check", "--limit", limit)
    assert message == "--limit must be at least 1."
    assert err == ""
    repaired()


def test_limit_caps_the_rows_shown_per_table(spend):
    # four rows: the spending ones (the cancelled cost's row stays right)
    SpendMonth.objects.filter(status__in=["approved", "pending"]).exclude(entries=0).update(
        amount=F("amount") + 1
    )
    SpendDay.objects.filter(day=date(2025, 1, 10)).delete()
    message, err = refused("check", "--limit", "2")
    lines = err.strip().splitlines()
    assert [line.split(" ")[0] for line in lines] == [
        "costs_spend_day",
        "costs_spend_month",
        "costs_spend_month",
    ]
    assert "in 3 rows shown" in message
    _, err = refused("check")
    assert [line.split(" ")[0] for line in err.strip().splitlines()].count("costs_spend_month") == 4
    repaired()


def test_purge_deletes_only_rows_whose_costs_all_left(org, spend):
    # voiding March's only approved cost and cancelling February's pending one empties rows
    march = next(c for c in spend if c.incurred_on == date(2025, 3, 3) and c.status == "approved")
    services.cost_void(cost=march, acting_user=org.fin, reason="duplicate")
    pending = next(c for c in spend if c.status == "pending")
    services.cost_cancel(cost=pending, acting_user=org.member)
    empty = {m._meta.db_table: m.objects.filter(entries=0).count() for m in MODELS}
    assert all(empty.values())  # every table has such rows (a transition leaves them too)
    kept = {t: [r for r in rows if r["entries"] != 0] for t, rows in snapshot().items()}
    out, err = run("purge")
    assert out.strip() == f"Purged {sum(empty.values())} empty summary rows."
    assert err == ""
    assert snapshot() == kept
    assert run("check")[0].startswith("The spend summary equals")
    assert run("purge")[0].strip() == "Purged 0 empty summary rows."
    # the costs themselves are untouched
    assert Cost.objects.filter(status__in=["approved", "pending"]).count() == 3
