"""The spend summary stays exact through random sequences of real writes.

Each example runs a random list of steps through the services a user reaches — create (draft
or pending, three currencies, tags, resource/entity/unit targets, days in several months),
submit, approve, reject, revise, cancel, void, edit (amount, currency, day, category, tags,
unit), exchange-rate changes followed by the reconversion, a billing import and corrected
re-imports, a batch decision of an import, a unit move and a period close — and after every
step (refused ones included) checks that:

- ``summary_differences()`` finds nothing (every summary table equals the raw costs);
- reports read through the summary equal a brute-force Python sum over the cost rows, to the
  cent, for several groupings, statuses, a unit subtree and windows that cut months.

Each example runs in a transaction that is rolled back.
"""

import io
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costs import reports, services
from costs.imports import services as import_services
from costs.models import Cost, ExchangeRate
from costs.periods import period_close, period_create
from costs.summary.check import summary_differences
from costtrack.core.exceptions import ApplicationError
from orgunits import services as org_services
from orgunits.models import Entity, OrganizationUnit, Resource
from tests.imports.conftest import rows_of, sample_bytes, to_csv
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory, finance_user

from .factories import category

pytestmark = pytest.mark.django_db

TRACKED = ("approved", "pending")
# Days in five months, including both ends of months (the reads split ranges there).
DAYS = [
    date(2024, 3, 5),
    date(2024, 12, 31),
    date(2025, 1, 1),
    date(2025, 1, 15),
    date(2025, 1, 31),
    date(2025, 2, 28),
    date(2025, 3, 1),
    date(2025, 3, 31),
]
# (start, end) windows of the reports: open, whole months, and cutting months at both ends.
WINDOWS = [
    (None, None),
    (date(2025, 1, 1), date(2025, 2, 28)),
    (date(2024, 3, 4), date(2025, 1, 15)),
    (date(2025, 1, 15), date(2025, 3, 1)),
    (date(2024, 12, 15), date(2025, 3, 15)),
    (None, date(2025, 1, 31)),
    (date(2025, 2, 1), None),
]
GROUPINGS = [
    ("organization_unit", "currency"),
    ("tag:team",),
    ("resource", "month"),
    ("category", "day"),
    ("entity",),
]
CURRENCY_DIGITS = {"USD": 2, "EUR": 2, "GBP": 2}
RATES = [Decimal("1.10"), Decimal("0.9137"), Decimal("1.2"), Decimal("1.333333")]
TEAMS = [None, "web", "data", ""]
MOVES = [("platform", "sales"), ("platform", "eng"), ("sales", "eng"), ("sales", "root")]
PERIODS = ["2024-03", "2025-01", "2025-02"]

pick = st.integers(0, 10_000)
step = st.one_of(
    st.fixed_dictionaries(
        {
            "op": st.just("create"),
            "draft": st.booleans(),
            "currency": st.sampled_from(sorted(CURRENCY_DIGITS)),
            "minor": st.integers(-50_000, 5_000_000),
            "day": st.sampled_from(DAYS),
            "team": st.sampled_from(TEAMS),
            "target": st.sampled_from(["platform", "resource", "entity", "sales"]),
            "category": st.sampled_from(["compute", "llm_inference", None]),
        }
    ),
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(
                ["submit", "approve", "approve", "reject", "revise", "cancel", "void"]
            ),
            "pick": pick,
        }
    ),
    st.fixed_dictionaries(
        {
            "op": st.just("update"),
            "pick": pick,
            "field": st.sampled_from(
                ["amount", "currency", "incurred_on", "category", "tags", "organization_unit"]
            ),
            "minor": st.integers(-50_000, 5_000_000),
            "day": st.sampled_from(DAYS),
            "currency": st.sampled_from(sorted(CURRENCY_DIGITS)),
            "team": st.sampled_from(TEAMS),
            "unit": st.sampled_from(["platform", "sales", "eng"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "op": st.just("rate_set"),
            "currency": st.sampled_from(["EUR", "GBP"]),
            "day": st.sampled_from(DAYS),
            "rate": st.sampled_from(RATES),
        }
    ),
    st.fixed_dictionaries(
        {
            "op": st.just("rate_update"),
            "pick": pick,
            "rate": st.sampled_from(RATES),
            "day": st.one_of(st.none(), st.sampled_from(DAYS)),
        }
    ),
    st.fixed_dictionaries({"op": st.just("import"), "variant": st.integers(0, 2)}),
    st.fixed_dictionaries({"op": st.just("import_decide"), "pick": pick, "approve": st.booleans()}),
    st.fixed_dictionaries({"op": st.just("move"), "move": st.sampled_from(MOVES)}),
    st.fixed_dictionaries({"op": st.just("close"), "label": st.sampled_from(PERIODS)}),
)


@pytest.fixture
def world(org):
    """The costs tests' organisation plus a billing importer and its landing unit (as keys:
    each step reads them afresh, since moves change the tree and users cache their units)."""
    landing = OrganizationUnitFactory(
        code="cloud", name="Cloud", parent=org.root, owner=UserFactory(username="cloud-owner")
    )
    units = {"root": org.root, "eng": org.eng, "platform": org.platform, "sales": org.sales}
    return {
        "units": {name: unit.pk for name, unit in [*units.items(), ("cloud", landing)]},
        "users": {name: org.u[name].pk for name in ("member", "sales_member", "fin")}
        | {"importer": finance_user(username="importer").pk},
        "resource": org.resource.pk,
        "entity": org.entity.pk,
    }


class Fresh:
    """The world's rows as the database has them now."""

    def __init__(self, world: dict):
        by_pk = OrganizationUnit.objects.in_bulk(world["units"].values())
        self.units = {name: by_pk[pk] for name, pk in world["units"].items()}
        users = get_user_model().objects.in_bulk(world["users"].values())
        self.users = {name: users[pk] for name, pk in world["users"].items()}
        self.resource = Resource.objects.get(pk=world["resource"])
        self.entity = Entity.objects.get(pk=world["entity"])


def _import_variant(variant: int) -> bytes:
    """The GCP sample (0), a correction of one row's amount (1), or one row fewer (2)."""
    rows = rows_of(sample_bytes("gcp.csv"))
    if variant == 1:
        rows[0]["EffectiveCost"] = str(Decimal(rows[0]["EffectiveCost"]) + Decimal("100.00"))
    elif variant == 2:
        rows = rows[:-1]
    return to_csv(rows)


def _choose(qs, number: int):
    rows = list(qs.order_by("pk"))
    return rows[number % len(rows)] if rows else None


def _run_step(spec: dict, world: dict) -> str:
    """Run one step through the services; return what was done (for the failure report)."""
    now = Fresh(world)
    units, users = now.units, now.users
    fin = users["fin"]
    op = spec["op"]
    if op == "create":
        amount = Decimal(spec["minor"]).scaleb(-CURRENCY_DIGITS[spec["currency"]])
        target = spec["target"]
        where = {
            "platform": {"organization_unit": units["platform"]},
            "resource": {"resource": now.resource},
            "entity": {"entity": now.entity},
            "sales": {"organization_unit": units["sales"]},
        }[target]
        submitter = users["sales_member"] if target == "sales" else users["member"]
        team = spec["team"]
        result = services.cost_create(
            submitted_by=submitter,
            amount=amount,
            currency=spec["currency"],
            incurred_on=spec["day"],
            category=category(spec["category"]) if spec["category"] else None,
            tags={"env": "prod"} if team is None else {"team": team, "env": "dev"},
            draft=spec["draft"],
            **where,
        )
        return f"created #{result.cost.pk} {result.cost.status}"
    if op in ("submit", "approve", "reject", "revise", "cancel", "void"):
        needs = {
            "submit": ["draft"],
            "approve": ["pending"],
            "reject": ["pending"],
            "revise": ["rejected"],
            "cancel": ["draft", "pending", "rejected"],
            "void": ["approved"],
        }[op]
        cost = _choose(Cost.objects.filter(status__in=needs), spec["pick"])
        if cost is None:
            return "nothing to do"
        owner = cost.submitted_by
        if op == "submit":
            services.cost_submit(cost=cost, acting_user=owner)
        elif op == "approve":
            services.cost_approve(cost=cost, acting_user=fin)
        elif op == "reject":
            services.cost_reject(cost=cost, acting_user=fin, comment="no")
        elif op == "revise":
            services.cost_revise(cost=cost, acting_user=owner)
        elif op == "cancel":
            services.cost_cancel(cost=cost, acting_user=owner)
        else:
            services.cost_void(cost=cost, acting_user=fin, reason="duplicate")
        return f"{op} #{cost.pk}"
    if op == "update":
        cost = _choose(Cost.objects.filter(status__in=["draft", "pending"]), spec["pick"])
        if cost is None:
            return "nothing to do"
        name = spec["field"]
        value = {
            "amount": lambda: Decimal(spec["minor"]).scaleb(-2),
            "currency": lambda: spec["currency"],
            "incurred_on": lambda: spec["day"],
            "category": lambda: category("compute" if cost.category.slug != "compute" else "other"),
            "tags": lambda: {} if spec["team"] is None else {"team": spec["team"]},
            "organization_unit": lambda: units[spec["unit"]],
        }[name]()
        services.cost_update(cost=cost, acting_user=fin, **{name: value})
        return f"update #{cost.pk} {name}={value}"
    if op == "rate_set":
        services.exchange_rate_set(
            currency=spec["currency"], date=spec["day"], rate=spec["rate"], acting_user=fin
        )
        changed = services.costs_reconvert(currency=spec["currency"], since=spec["day"])
        return f"rate {spec['currency']} {spec['day']} = {spec['rate']}: {changed} reconverted"
    if op == "rate_update":
        rate = _choose(ExchangeRate.objects.all(), spec["pick"])
        old_day = rate.date
        fields = {"rate": spec["rate"]}
        if spec["day"] is not None and not ExchangeRate.objects.filter(
            currency=rate.currency, date=spec["day"]
        ).exclude(pk=rate.pk):
            fields["date"] = spec["day"]
        rate = services.exchange_rate_update(exchange_rate=rate, acting_user=fin, **fields)
        changed = services.costs_reconvert(currency=rate.currency, since=min(old_day, rate.date))
        return f"rate #{rate.pk} {fields}: {changed} reconverted"
    if op == "import":
        batch = import_services.import_file(
            source=io.BytesIO(_import_variant(spec["variant"])),
            file_name=f"gcp-{spec['variant']}.csv",
            acting_user=users["importer"],
            unit=units["cloud"],
        )
        return f"import variant {spec['variant']}: batch #{batch.pk} {batch.status}"
    if op == "import_decide":
        cost = _choose(
            Cost.objects.filter(status="pending", import_link__batch__isnull=False), spec["pick"]
        )
        if cost is None:
            return "nothing to do"
        batch = cost.import_link.batch
        decided = import_services.import_batch_decide(
            batch=batch,
            approver=cost.approver,
            decision="approve" if spec["approve"] else "reject",
            comment="" if spec["approve"] else "wrong account",
            acting_user=fin,
        )
        return f"decided {decided} costs of import #{batch.pk}"
    if op == "move":
        unit, parent = (units[name] for name in spec["move"])
        org_services.unit_move(unit=unit, new_parent=parent, acting_user=fin)
        return f"moved {spec['move']}"
    if op == "close":
        period = period_create(label=spec["label"], acting_user=fin)
        period = period_close(period=period, acting_user=fin, allow_pending=True)
        return f"closed {period.label}: {period.status}"
    raise AssertionError(op)


def _step(spec: dict, world: dict) -> str:
    try:
        outcome = _run_step(spec, world)
    except ApplicationError as exc:  # refused: nothing of it may be left behind
        outcome = f"refused ({type(exc).__name__}: {exc.message})"
    return f"{spec['op']}: {outcome}"


# --- the brute-force side --------------------------------------------------------------------


def _py_key(cost: Cost, key: str):
    if key == "tag:team":
        return cost.tags.get("team")
    if key == "month":
        return cost.incurred_on.replace(day=1)
    if key == "day":
        return cost.incurred_on
    return getattr(cost, f"{key}_id") if key != "currency" else cost.currency


def _in_subtree(unit_id: int, root_id: int, parents: dict[int, int | None]) -> bool:
    while unit_id is not None:
        if unit_id == root_id:
            return True
        unit_id = parents[unit_id]
    return False


def _expected(costs, keys, *, statuses, start, end, amount="amount_reporting"):
    totals: dict[tuple, list] = defaultdict(lambda: [Decimal(0), 0])
    for cost in costs:
        if cost.status not in statuses:
            continue
        if (start and cost.incurred_on < start) or (end and cost.incurred_on > end):
            continue
        got = totals[tuple(_py_key(cost, k) for k in keys)]
        got[0] += getattr(cost, amount)
        got[1] += 1
    return {group: tuple(v) for group, v in totals.items()}


def _assert_summary_equals_costs(world: dict, done: str) -> None:
    differences = summary_differences(limit=5)
    assert not differences, f"after {done}:\n" + "\n".join(map(str, differences))
    costs = list(Cost.objects.all())
    for start, end in WINDOWS:
        window = {"start": start, "end": end}
        for statuses in (TRACKED, ("approved",), ("pending",)):
            for keys in GROUPINGS:
                got = {
                    tuple(r[k] for k in keys): (r["total"], r["count"])
                    for r in reports.cost_totals(group_by=keys, statuses=statuses, **window)
                }
                want = _expected(costs, keys, statuses=statuses, **window)
                assert got == want, (done, keys, statuses, window)
        got = {
            (r["organization_unit"], r["currency"]): (r["amount"], r["count"])
            for r in reports.cost_totals_by_currency(
                group_by=("organization_unit",), statuses=TRACKED, **window
            )
        }
        want = _expected(
            costs, ("organization_unit", "currency"), statuses=TRACKED, amount="amount", **window
        )
        assert got == want, (done, "by currency", window)
    # a unit's subtree as it is now: a move changes what the subtree holds
    parents = dict(OrganizationUnit.objects.values_list("pk", "parent_id"))
    for name in ("eng", "sales"):
        unit = OrganizationUnit.objects.get(pk=world["units"][name])
        got = {
            r["tag:team"]: (r["total"], r["count"])
            for r in reports.cost_totals(group_by=("tag:team",), statuses=TRACKED, unit=unit)
        }
        inside = [c for c in costs if _in_subtree(c.organization_unit_id, unit.pk, parents)]
        want = {
            k[0]: v
            for k, v in _expected(
                inside, ("tag:team",), statuses=TRACKED, start=None, end=None
            ).items()
        }
        assert got == want, (done, "subtree", name)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=12))
def test_every_step_keeps_the_summary_equal_to_the_costs(world, steps):
    with transaction.atomic():
        rates = [(c, d, r) for c in ("EUR", "GBP") for d, r in [(date(2020, 1, 1), RATES[0])]]
        ExchangeRate.objects.bulk_create(
            ExchangeRate(currency=c, date=d, rate=r) for c, d, r in rates
        )
        done = ["setup"]
        for spec in steps:
            done.append(_step(spec, world))
            _assert_summary_equals_costs(world, " → ".join(done))
        transaction.set_rollback(True)


def test_the_steps_reach_every_kind_of_write(world):
    """One fixed sequence through every step (the random ones may miss some): each does what
    it says, and the summary follows it."""
    fixed = [
        {
            "op": "create",
            "draft": False,
            "currency": "EUR",
            "minor": 12_345,
            "day": date(2025, 1, 15),
        }
        | {"team": "web", "target": "resource", "category": "compute"},
        {"op": "create", "draft": True, "currency": "GBP", "minor": -999, "day": date(2024, 12, 31)}
        | {"team": None, "target": "entity", "category": None},
        {"op": "create", "draft": False, "currency": "USD", "minor": 500, "day": date(2025, 2, 28)}
        | {"team": "", "target": "sales", "category": "llm_inference"},
        {"op": "submit", "pick": 0},
        {"op": "approve", "pick": 0},
        {"op": "reject", "pick": 0},
        {"op": "revise", "pick": 0},
        {"op": "update", "pick": 0, "field": "tags", "minor": 1, "day": date(2024, 3, 5)}
        | {"currency": "USD", "team": "data", "unit": "sales"},
        {"op": "submit", "pick": 0},
        {
            "op": "update",
            "pick": 0,
            "field": "organization_unit",
            "minor": 1,
            "day": date(2024, 3, 5),
        }
        | {"currency": "USD", "team": "data", "unit": "eng"},
        {"op": "update", "pick": 0, "field": "incurred_on", "minor": 1, "day": date(2025, 3, 1)}
        | {"currency": "USD", "team": "data", "unit": "eng"},
        {"op": "rate_set", "currency": "EUR", "day": date(2025, 1, 1), "rate": RATES[1]},
        {"op": "rate_update", "pick": 0, "rate": RATES[2], "day": None},
        {"op": "import", "variant": 0},
        {"op": "import_decide", "pick": 0, "approve": True},
        {"op": "import", "variant": 1},
        {"op": "move", "move": ("platform", "sales")},
        {"op": "void", "pick": 0},
        {"op": "cancel", "pick": 0},
        {"op": "close", "label": "2025-02"},
        {"op": "update", "pick": 0, "field": "amount", "minor": 1, "day": date(2024, 3, 5)}
        | {"currency": "USD", "team": "data", "unit": "eng"},
    ]
    ExchangeRate.objects.bulk_create(
        ExchangeRate(currency=c, date=date(2020, 1, 1), rate=RATES[0]) for c in ("EUR", "GBP")
    )
    done = []
    for spec in fixed:
        done.append(_step(spec, world))
        _assert_summary_equals_costs(world, " → ".join(done))
    # every step did what it says; the last edits a cost of the closed month: refused
    assert not [d for d in done[:-1] if "nothing to do" in d or "refused" in d], done
    assert "refused (Conflict: The period 2025-02 is closed" in done[-1], done
    assert set(Cost.objects.values_list("status", flat=True)) >= {
        "approved",
        "pending",
        "cancelled",
        "voided",
    }
    assert Cost.objects.filter(metadata__has_key="reverses", status="approved").exists()
