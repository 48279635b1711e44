"""Report selectors against a brute-force Python sum, on random trees and costs."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costs import reports
from costs.models import Cost, CostStatus
from tests.orgunits.factories import (
    EntityFactory,
    OrganizationUnitFactory,
    ResourceFactory,
    UserFactory,
    finance_user,
)

from .factories import CostCategoryFactory, CostFactory

pytestmark = pytest.mark.django_db

SINGLE_KEYS = [*reports.GROUP_KEYS, "tag:team"]
CURRENCIES = {"USD": 2, "EUR": 2, "JPY": 0}
BASE_DAY = date(2024, 11, 1)


def _py_key(cost: Cost, key: str):
    return {
        "organization_unit": lambda: cost.organization_unit_id,
        "entity": lambda: cost.entity_id,
        "resource": lambda: cost.resource_id,
        "category": lambda: cost.category_id,
        "provider": lambda: cost.resource.provider if cost.resource_id else None,
        "currency": lambda: cost.currency,
        "day": lambda: cost.incurred_on,
        "month": lambda: cost.incurred_on.replace(day=1),
        "quarter": lambda: cost.incurred_on.replace(
            month=(cost.incurred_on.month - 1) // 3 * 3 + 1, day=1
        ),
        "tag:team": lambda: cost.tags.get("team"),
    }[key]()


cost_strategy = st.fixed_dictionaries(
    {
        "unit": st.integers(0, 7),
        "currency": st.sampled_from(sorted(CURRENCIES)),
        "minor": st.integers(-5_000, 200_000),
        "rate": st.sampled_from([Decimal("1"), Decimal("1.0825"), Decimal("0.0067")]),
        "day": st.integers(0, 200),
        "status": st.sampled_from(
            [CostStatus.APPROVED, CostStatus.APPROVED, CostStatus.PENDING, CostStatus.REJECTED]
        ),
        "team": st.sampled_from([None, "web", "data"]),
        "with_resource": st.booleans(),
        "with_entity": st.booleans(),
        "category": st.integers(0, 2),
    }
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    parents=st.lists(st.integers(0, 10), min_size=1, max_size=7),
    costs=st.lists(cost_strategy, max_size=25),
    pair=st.lists(st.sampled_from(SINGLE_KEYS), min_size=2, max_size=2, unique=True),
    with_pending=st.booleans(),
    window=st.tuples(st.integers(0, 200), st.integers(0, 200)),
)
def test_every_grouping_and_rollup_equals_a_brute_force_sum(
    parents, costs, pair, with_pending, window
):
    with transaction.atomic():
        _check(parents, costs, pair, with_pending, window)
        transaction.set_rollback(True)


def _check(parents, costs, pair, with_pending, window):
    root = OrganizationUnitFactory()
    units = [root]
    for p in parents:  # each new unit hangs under an earlier one: a random tree
        units.append(OrganizationUnitFactory(parent=units[p % len(units)]))
    categories = [CostCategoryFactory() for _ in range(3)]
    user = UserFactory()
    for spec in costs:
        unit = units[spec["unit"] % len(units)]
        amount = Decimal(spec["minor"]).scaleb(-CURRENCIES[spec["currency"]])
        rate = Decimal(1) if spec["currency"] == "USD" else spec["rate"]
        CostFactory(
            organization_unit=unit,
            currency=spec["currency"],
            amount=amount,
            exchange_rate=rate,
            amount_reporting=(amount * rate).quantize(Decimal("0.01")),
            incurred_on=BASE_DAY + timedelta(days=spec["day"]),
            status=spec["status"],
            tags={"team": spec["team"]} if spec["team"] else {"env": "prod"},
            resource=ResourceFactory(organization_unit=unit) if spec["with_resource"] else None,
            entity=EntityFactory(organization_unit=unit) if spec["with_entity"] else None,
            category=categories[spec["category"]],
            submitted_by=user,
        )
    statuses = (CostStatus.APPROVED, CostStatus.PENDING) if with_pending else (CostStatus.APPROVED,)
    start, end = (BASE_DAY + timedelta(days=d) for d in sorted(window))
    viewer = finance_user()
    everything = list(Cost.objects.select_related("resource").filter(status__in=statuses))
    in_window = [c for c in everything if start <= c.incurred_on <= end]
    filters = {"user": viewer, "start": start, "end": end, "statuses": statuses}

    for keys in [*[(k,) for k in SINGLE_KEYS], tuple(pair)]:
        expected = defaultdict(Decimal)
        expected_cur = defaultdict(Decimal)
        for c in in_window:
            group = tuple(_py_key(c, k) for k in keys)
            expected[group] += c.amount_reporting
            expected_cur[
                (*tuple(g for k, g in zip(keys, group, strict=True) if k != "currency"), c.currency)
            ] += c.amount
        got = {
            tuple(r[k] for k in keys): r["total"]
            for r in reports.cost_totals(group_by=keys, **filters)
        }
        assert got == dict(expected), keys
        cur_keys = [k for k in keys if k != "currency"]
        got_cur = {
            (*tuple(r[k] for k in cur_keys), r["currency"]): r["amount"]
            for r in reports.cost_totals_by_currency(group_by=keys, **filters)
        }
        assert got_cur == dict(expected_cur), keys

    # Subtree totals for every unit, and the rollup of one, without a window.
    for u in units:
        u.refresh_from_db()
    all_filters = {"user": viewer, "statuses": statuses}
    totals = reports.unit_subtree_totals(root=root, **all_filters)

    def brute(unit, *, subtree=True):
        members = {
            u.pk
            for u in units
            if u.pk == unit.pk
            or (subtree and u.tree_id == unit.tree_id and unit.lft < u.lft < unit.rght)
        }
        picked = [c for c in everything if c.organization_unit_id in members]
        by_cur = defaultdict(Decimal)
        for c in picked:
            by_cur[c.currency] += c.amount
        return sum((c.amount_reporting for c in picked), Decimal(0)), dict(by_cur)

    for u in units:
        assert totals[u.pk] == (brute(u, subtree=False)[0], brute(u)[0])
    target = units[len(parents) // 2]
    result = reports.rollup(unit=target, **all_filters)
    assert (result.own, result.total) == (brute(target, subtree=False)[0], brute(target)[0])
    assert result.total_by_currency == dict(sorted(brute(target)[1].items()))
    children = [u for u in units if u.parent_id == target.pk]
    assert {c["unit"].pk: c["total"] for c in result.children} == {
        c.pk: brute(c)[0] for c in children
    }
    assert result.own + sum((c["total"] for c in result.children), Decimal(0)) == result.total


def test_a_member_sees_only_costs_of_their_subtree():
    company = OrganizationUnitFactory()
    mine = OrganizationUnitFactory(parent=company)
    other = OrganizationUnitFactory(parent=company)
    member = UserFactory()
    mine.memberships.create(user=member)
    CostFactory(organization_unit=mine, amount=Decimal("12.34"))
    CostFactory(organization_unit=other, amount=Decimal("99.00"))
    CostFactory(organization_unit=mine, amount=Decimal("5.00"), status=CostStatus.PENDING)

    assert reports.cost_totals(user=member) == [{"total": Decimal("12.34"), "count": 1}]
    assert reports.cost_totals(user=finance_user())[0]["total"] == Decimal("111.34")
    pending_too = (CostStatus.APPROVED, CostStatus.PENDING)
    assert reports.cost_totals(user=member, statuses=pending_too)[0]["total"] == Decimal("17.34")
    assert reports.cost_totals(user=UserFactory()) == [{"total": Decimal(0), "count": 0}]


def test_summary_has_the_seed_shape_with_tags_and_resources():
    unit = OrganizationUnitFactory()
    compute = CostCategoryFactory(slug="report-compute")
    storage = CostCategoryFactory(slug="report-storage")
    vm = ResourceFactory(organization_unit=unit, name="vm-1")
    CostFactory(
        organization_unit=unit,
        resource=vm,
        category=compute,
        amount=Decimal("10.50"),
        tags={"team": "web", "env": "prod"},
        incurred_on=date(2025, 3, 2),
    )
    CostFactory(
        organization_unit=unit,
        category=storage,
        amount=Decimal("4.25"),
        tags={"team": "data"},
        incurred_on=date(2025, 3, 30),
    )
    CostFactory(organization_unit=unit, category=storage, incurred_on=date(2025, 4, 1))

    got = reports.cost_summary(user=None, start=date(2025, 3, 1), end=date(2025, 3, 31))

    assert got["total"] == Decimal("14.75")
    assert got["entry_count"] == 2
    assert got["by_category"] == {
        "report-compute": Decimal("10.50"),
        "report-storage": Decimal("4.25"),
    }
    assert got["by_resource"] == {"vm-1": Decimal("10.50")}
    assert got["by_tag"] == {
        "env": {"prod": Decimal("10.50")},
        "team": {"data": Decimal("4.25"), "web": Decimal("10.50")},
    }
    assert (got["period_start"], got["period_end"]) == (date(2025, 3, 1), date(2025, 3, 31))


def test_monthly_trend_fills_empty_months():
    unit = OrganizationUnitFactory()
    CostFactory(organization_unit=unit, amount=Decimal("3.00"), incurred_on=date(2025, 1, 31))
    CostFactory(organization_unit=unit, amount=Decimal("4.00"), incurred_on=date(2025, 3, 1))

    trend = reports.monthly_trend(months=3, end_month=date(2025, 3, 20), unit=unit)

    assert [(r["month"], r["total"]) for r in trend] == [
        (date(2025, 1, 1), Decimal("3.00")),
        (date(2025, 2, 1), Decimal(0)),
        (date(2025, 3, 1), Decimal("4.00")),
    ]


@pytest.mark.parametrize(
    "value, message",
    [
        ("month,day,unit", "at most 2"),
        ("colour", "Unknown group_by key 'colour'"),
        ("month,month", "only once"),
        ("tag:", "needs a key"),
    ],
)
def test_bad_group_by_is_refused_naming_the_parameter(value, message):
    with pytest.raises(reports.ValidationError) as err:
        reports.parse_group_by(value)
    assert err.value.field == "group_by"
    assert message in err.value.message
