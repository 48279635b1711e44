"""Report selectors and endpoints against a brute-force Python sum, on random trees, costs and
exchange rates."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from costs import reports
from costs.models import Cost, CostStatus, ExchangeRate
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
# Extra rates (day offset from BASE_DAY, rate) on top of one before every cost's day.
RATE_VALUES = {
    "EUR": [Decimal("1.0825"), Decimal("0.9137"), Decimal("1.2"), Decimal("1.1111")],
    "JPY": [Decimal("0.0067"), Decimal("0.00712"), Decimal("0.0069531")],
}
rates_strategy = st.fixed_dictionaries(
    {
        code: st.lists(
            st.tuples(st.integers(-20, 220), st.sampled_from(values)),
            max_size=4,
            unique_by=lambda r: r[0],
        )
        for code, values in RATE_VALUES.items()
    }
)


def _api_value(key: str, value):
    """A group value as the report endpoint writes it."""
    if value is None:
        return None
    if key == "month":
        return f"{value:%Y-%m}"
    if key == "quarter":
        return f"{value.year}-Q{(value.month - 1) // 3 + 1}"
    if key == "day":
        return value.isoformat()
    return value


def _cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


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
    rates=rates_strategy,
)
def test_every_grouping_and_rollup_equals_a_brute_force_sum(
    parents, costs, pair, with_pending, window, rates
):
    with transaction.atomic():
        _check(parents, costs, pair, with_pending, window, rates)
        transaction.set_rollback(True)


def _check(parents, costs, pair, with_pending, window, rates):
    from costs.services import convert

    root = OrganizationUnitFactory()
    units = [root]
    for p in parents:  # each new unit hangs under an earlier one: a random tree
        units.append(OrganizationUnitFactory(parent=units[p % len(units)]))
    categories = [CostCategoryFactory() for _ in range(3)]
    user = UserFactory()
    table = {
        code: [(BASE_DAY - timedelta(days=30), RATE_VALUES[code][0])]
        + [(BASE_DAY + timedelta(days=d), rate) for d, rate in extra if d != -30]
        for code, extra in rates.items()
    }
    for code, rows in table.items():
        ExchangeRate.objects.bulk_create(
            ExchangeRate(currency=code, date=day, rate=rate) for day, rate in rows
        )

    def brute_rate(code: str, day: date) -> Decimal:
        """The latest rate on or before ``day``, by looking at every rate."""
        if code == "USD":
            return Decimal(1)
        return max((d, r) for d, r in table[code] if d <= day)[1]

    for spec in costs:
        unit = units[spec["unit"] % len(units)]
        amount = Decimal(spec["minor"]).scaleb(-CURRENCIES[spec["currency"]])
        day = BASE_DAY + timedelta(days=spec["day"])
        conversion = convert(amount=amount, currency=spec["currency"], on=day)
        # each cost is converted at the latest rate on or before its day, to the cent
        rate = brute_rate(spec["currency"], day)
        assert conversion.rate == rate
        assert conversion.amount_reporting == Decimal(_cents(amount * rate))
        CostFactory(
            organization_unit=unit,
            currency=spec["currency"],
            amount=amount,
            exchange_rate=conversion.rate,
            amount_reporting=conversion.amount_reporting,
            incurred_on=day,
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
    api = APIClient()
    api.force_authenticate(viewer)
    query = {"start": start, "end": end, "status": ",".join(statuses)}
    # a report in EUR gives the reporting-currency sums at the EUR rate on or before ``end``
    eur_rate = brute_rate("EUR", end)

    for keys in [*[(k,) for k in SINGLE_KEYS], tuple(pair)]:
        expected = defaultdict(Decimal)
        expected_cur = defaultdict(Decimal)
        for c in in_window:
            group = tuple(_py_key(c, k) for k in keys)
            expected[group] += amount_in_usd(c, brute_rate)
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

        response = api.get(
            "/api/v1/reports/costs/", {**query, "group_by": ",".join(keys), "currency": "EUR"}
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["currency"] == "EUR"
        assert {tuple(r[k] for k in keys): r["total"] for r in body["results"]} == {
            tuple(_api_value(k, g) for k, g in zip(keys, group, strict=True)): _cents(
                total / eur_rate
            )
            for group, total in expected.items()
        }, keys
        assert body["total"] == _cents(sum(expected.values(), Decimal(0)) / eur_rate)

    # Subtree totals for every unit, and the rollup of one, without a window.
    for u in units:
        u.refresh_from_db()
    all_filters = {"user": viewer, "statuses": statuses}
    totals = reports.unit_subtree_totals(root=root, **all_filters)

    def brute(unit, *, subtree=True, costs=everything):
        members = {
            u.pk
            for u in units
            if u.pk == unit.pk
            or (subtree and u.tree_id == unit.tree_id and unit.lft < u.lft < unit.rght)
        }
        picked = [c for c in costs if c.organization_unit_id in members]
        by_cur = defaultdict(Decimal)
        for c in picked:
            by_cur[c.currency] += c.amount
        return sum((amount_in_usd(c, brute_rate) for c in picked), Decimal(0)), dict(by_cur)

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

    # The rollup endpoint in EUR, over the window.
    response = api.get(f"/api/v1/org-units/{target.pk}/rollup/", {**query, "currency": "EUR"})
    assert response.status_code == 200, response.content
    body = response.json()
    own, total = brute(target, subtree=False, costs=in_window)[0], brute(target, costs=in_window)[0]
    assert (body["currency"], body["own"], body["total"]) == (
        "EUR",
        _cents(own / eur_rate),
        _cents(total / eur_rate),
    )
    assert {c["id"]: c["total"] for c in body["children"]} == {
        c.pk: _cents(brute(c, costs=in_window)[0] / eur_rate) for c in children
    }
    assert {c["id"]: c["total_by_currency"] for c in body["children"]} == {
        c.pk: {
            code: str(v.quantize(Decimal(1).scaleb(-CURRENCIES[code])))
            for code, v in sorted(brute(c, costs=in_window)[1].items())
        }
        for c in children
    }


def amount_in_usd(cost: Cost, brute_rate) -> Decimal:
    """A cost in the reporting currency at the latest rate on or before its day."""
    return Decimal(_cents(cost.amount * brute_rate(cost.currency, cost.incurred_on)))


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
