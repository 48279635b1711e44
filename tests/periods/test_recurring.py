"""Recurring costs: one pending cost per due day, exactly once, whatever runs generation."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from costs.models import Cost
from costs.period_models import RecurringCostOccurrence
from costs.periods import period_close, period_create
from costs.recurring import (
    due_days,
    recurring_cost_list,
    recurring_cost_update,
    recurring_costs_generate,
)
from costtrack.core.exceptions import PermissionDenied, ValidationError

from .factories import recurring, seed_items

MARCH_END = date(2025, 3, 31)


def _monthly_totals():
    rows = (
        Cost.objects.filter(source=Cost.Source.RECURRING)
        .values_list("incurred_on__month")
        .annotate(total=Sum("amount"))
        .order_by("incurred_on__month")
    )
    return dict(rows)


def test_seed_example_gives_fifteen_costs_once_however_often_it_runs(org, eur_rates):
    seed_items(acting_user=org.fin, organization_unit=org.platform)

    first = recurring_costs_generate(until=MARCH_END)
    again = [recurring_costs_generate(until=MARCH_END) for _ in range(4)]

    assert first.created == 15
    assert [r.created for r in again] == [0, 0, 0, 0]
    assert [r.existing for r in again] == [15, 15, 15, 15]
    costs = Cost.objects.filter(source=Cost.Source.RECURRING)
    assert costs.count() == 15
    assert set(costs.values_list("status", flat=True)) == {Cost.Status.PENDING}
    assert _monthly_totals() == {1: Decimal("87.00"), 2: Decimal("87.00"), 3: Decimal("87.00")}
    assert RecurringCostOccurrence.objects.filter(cost__isnull=True).count() == 0
    server = costs.get(description="Hosteurope server", incurred_on=date(2025, 2, 1))
    assert (server.period_start, server.period_end) == (date(2025, 2, 1), date(2025, 2, 28))
    assert server.submitted_by == org.fin
    assert server.metadata["recurring_cost"] == "Hosteurope server"


@pytest.mark.django_db(transaction=True)
def test_concurrent_generation_writes_each_cost_once(org, eur_rates):
    seed_items(acting_user=org.fin, organization_unit=org.platform)
    barrier = threading.Barrier(5)
    outcomes, failures = [], []

    def run():
        try:
            barrier.wait(timeout=30)
            outcomes.append(recurring_costs_generate(until=MARCH_END).created)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert failures == []
    assert sum(outcomes) == 15
    assert Cost.objects.filter(source=Cost.Source.RECURRING).count() == 15
    assert RecurringCostOccurrence.objects.count() == 15
    assert _monthly_totals() == {1: Decimal("87.00"), 2: Decimal("87.00"), 3: Decimal("87.00")}


@pytest.mark.parametrize(
    ("cadence", "start", "end", "expected"),
    [
        (
            "quarterly",
            date(2025, 1, 15),
            None,
            [date(2025, 1, 15), date(2025, 4, 15), date(2025, 7, 15), date(2025, 10, 15)],
        ),
        ("annual", date(2024, 2, 29), None, [date(2024, 2, 29), date(2025, 2, 28)]),
        ("one_time", date(2025, 3, 15), None, [date(2025, 3, 15)]),
        (
            "monthly",
            date(2025, 1, 31),
            date(2025, 4, 30),
            [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)],
        ),
        ("monthly", date(2025, 1, 1), date(2025, 2, 15), [date(2025, 1, 1), date(2025, 2, 1)]),
    ],
)
def test_cadences_and_end_dates(org, cadence, start, end, expected):
    item = recurring(
        acting_user=org.fin,
        organization_unit=org.platform,
        currency="USD",
        cadence=cadence,
        start_date=start,
        end_date=end,
    )

    result = recurring_costs_generate(until=date(2025, 12, 31))

    assert due_days(item, until=date(2025, 12, 31)) == expected
    assert result.created == len(expected)
    assert sorted(Cost.objects.values_list("incurred_on", flat=True)) == expected


def test_generated_cost_spans_its_period_and_end_date_clips_it(org):
    recurring(
        acting_user=org.fin,
        organization_unit=org.platform,
        currency="USD",
        cadence="quarterly",
        start_date=date(2025, 1, 10),
        end_date=date(2025, 5, 1),
    )
    recurring_costs_generate(until=date(2025, 12, 31))

    spans = list(Cost.objects.order_by("incurred_on").values_list("period_start", "period_end"))
    assert spans == [
        (date(2025, 1, 10), date(2025, 4, 9)),
        (date(2025, 4, 10), date(2025, 5, 1)),
    ]


def test_inactive_items_generate_nothing_and_since_limits_the_range(org):
    item = recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    recurring_cost_update(recurring_cost=item, acting_user=org.fin, active=False)
    assert recurring_costs_generate(until=MARCH_END).created == 0

    recurring_cost_update(recurring_cost=item, acting_user=org.fin, active=True)
    result = recurring_costs_generate(since=date(2025, 2, 1), until=date(2025, 2, 28))

    assert result.created == 1
    assert list(Cost.objects.values_list("incurred_on", flat=True)) == [date(2025, 2, 1)]


def test_closed_period_is_skipped_and_later_periods_still_generate(org):
    period = period_create(label="2025-01")
    period_close(period=period, allow_pending=True)
    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")

    result = recurring_costs_generate(until=date(2025, 2, 28))

    assert (result.created, result.skipped_closed) == (1, 1)
    assert list(Cost.objects.values_list("incurred_on", flat=True)) == [date(2025, 2, 1)]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"end_date": date(2024, 12, 31)}, "end_date"),
        ({"currency": "XXZ"}, "currency"),
        ({"amount": Decimal("10.001")}, "amount"),
        ({"amount": Decimal("NaN")}, "amount"),
        ({"amount": Decimal("-5.00")}, "amount"),
        ({"cadence": "weekly"}, "cadence"),
        ({"name": "  "}, "name"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(org, fields, field):
    with pytest.raises(ValidationError) as exc:
        recurring(acting_user=org.fin, organization_unit=org.platform, **fields)
    assert exc.value.field == field
    assert recurring_cost_list(user=org.fin).count() == 0


def test_only_finance_manages_recurring_costs(org):
    with pytest.raises(PermissionDenied):
        recurring(acting_user=org.member, organization_unit=org.platform)
    item = recurring(acting_user=org.fin, organization_unit=org.platform)
    with pytest.raises(PermissionDenied):
        recurring_cost_update(recurring_cost=item, acting_user=org.member, amount=Decimal("1"))


def test_update_end_date_before_start_is_refused(org):
    item = recurring(acting_user=org.fin, organization_unit=org.platform)
    with pytest.raises(ValidationError) as exc:
        recurring_cost_update(recurring_cost=item, acting_user=org.fin, end_date=date(2020, 1, 1))
    assert exc.value.field == "end_date"


def test_list_is_scoped_and_filters_by_period(org):
    recurring(acting_user=org.fin, organization_unit=org.platform, name="Platform tool")
    recurring(
        acting_user=org.fin,
        organization_unit=org.sales,
        name="CRM setup",
        cadence="one_time",
        start_date=date(2025, 3, 2),
    )

    assert [i.name for i in recurring_cost_list(user=org.member)] == ["Platform tool"]
    assert [i.name for i in recurring_cost_list(user=org.aud)] == ["CRM setup", "Platform tool"]
    in_april = recurring_cost_list(user=org.fin, period="2025-04")
    assert [i.name for i in in_april] == ["Platform tool"]
    in_march = recurring_cost_list(user=org.fin, period="2025-03")
    assert [i.name for i in in_march] == ["CRM setup", "Platform tool"]


def test_a_refused_occurrence_leaves_no_key_and_is_booked_by_the_next_run(org, monkeypatch):
    from costs import extensions

    def block(*, cost, acting_user, override_reason):
        raise PermissionDenied("Budget 'Tools' is exhausted.", code="budget_exceeded")

    recurring(acting_user=org.fin, organization_unit=org.platform, currency="USD")
    monkeypatch.setattr(extensions, "_submission_checks", [block])

    refused = recurring_costs_generate(until=date(2025, 1, 31))

    assert refused.created == 0
    assert refused.errors == ["Server due 2025-01-01: Budget 'Tools' is exhausted."]
    assert not RecurringCostOccurrence.objects.exists()
    assert not Cost.objects.exists()

    monkeypatch.setattr(extensions, "_submission_checks", [])
    assert recurring_costs_generate(until=date(2025, 1, 31)).created == 1
    assert RecurringCostOccurrence.objects.get().cost == Cost.objects.get()


def test_update_clears_optional_fields_to_their_defaults(org):
    item = recurring(
        acting_user=org.fin,
        organization_unit=org.platform,
        description="yearly plan",
        tags={"team": "web"},
    )

    item = recurring_cost_update(
        recurring_cost=item, acting_user=org.fin, description=None, tags=None, category=None
    )

    assert (item.description, item.tags, item.category.slug) == ("", {}, "other")
