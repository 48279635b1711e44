"""``costtrack bench enforcement``: cost submissions per second with budget enforcement.

In a throwaway schema, two sibling teams get the same background of approved and pending
costs. Costs submitted to team A fall under three active budgets (a monthly ``block`` budget
on the team, a quarterly ``warn`` budget in EUR on the team narrowed to a parent category, a
monthly ``block`` budget on the company narrowed by a tag), so each submission locks two
budget rows and sums three budgets' spend; costs submitted to team B fall under none. Both
are submitted through ``costs.services.cost_create`` (one transaction each, as the API
does), alternating rounds in the same run on the same database; the median round is kept.

Prints one line per scenario (``submissions_per_s``) and a comparison line whose ``ratio``
is our time over the floor (the time without budgets) and ``throughput_ratio`` its inverse.
"""

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from statistics import median

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from costs import services as cost_services
from costs.models import Cost, CostCategory, ExchangeRate
from costs.summary.check import summary_rebuild
from costtrack.core.bench import bench_schema, result_line
from costtrack.core.roles import FINANCE
from notifications.kinds import Kind as NotificationKind
from notifications.models import NotificationPreference
from orgunits import services as org_services
from orgunits.models import Membership

from . import services
from .models import Budget

SCHEMA = "bench_enforcement"
DEFAULT_ROWS = 200  # submissions per round and scenario
BACKGROUND_COSTS = 20_000
TAGS = {"env": "prod"}


def _models() -> list:
    """Every model of the apps a submission touches, so the schema follows the apps' models."""
    labels = ["contenttypes", "auth", "orgunits", "costs", "notifications", "budgets"]
    return [model for label in labels for model in apps.get_app_config(label).get_models()]


def _setup(log: Callable[[str], None], background: int = BACKGROUND_COSTS) -> dict:
    User = get_user_model()
    finance = Group.objects.create(name=FINANCE)
    admin = User.objects.create(username="bench-finance")
    admin.groups.add(finance)
    owner = User.objects.create(username="bench-owner", email="owner@example.com")
    submitter = User.objects.create(username="bench-submitter")
    # E-mail delivery is the notifications app's cost, not enforcement's: keep it in-app.
    NotificationPreference.objects.create(
        user=owner, kind=NotificationKind.APPROVAL_REQUESTED, channel="in_app"
    )
    root = org_services.unit_create(name="Bench Co", code="bench-co", owner=owner)
    division = org_services.unit_create(name="Division", code="bench-div", parent=root)
    team_a = org_services.unit_create(name="Team A", code="bench-a", parent=division)
    team_b = org_services.unit_create(name="Team B", code="bench-b", parent=division)
    for unit in (team_a, team_b):
        Membership.objects.create(user=submitter, unit=unit, role="member")
    cloud = CostCategory.objects.create(name="Cloud", slug="cloud")
    compute = CostCategory.objects.create(name="Compute", slug="compute", parent=cloud)
    CostCategory.objects.rebuild()
    compute.refresh_from_db()
    today = timezone.localdate()
    ExchangeRate.objects.create(
        currency="EUR", date=today - timedelta(days=400), rate=Decimal("1.08")
    )

    log(f"loading {background} background costs …")
    # A fixed spread of amounts and days (multiplicative hashing), the same every run,
    # generated inside PostgreSQL so that millions of rows load in seconds.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Cost._meta.db_table} (amount, currency, amount_reporting, exchange_rate,
                incurred_on, category_id, description, organization_unit_id, url, metadata,
                tags, source, kind, status, submitted_by_id, decision_comment, created_at,
                updated_at)
            SELECT a.amount, 'USD', a.amount, 1, %s::date - ((i * 104729) %% 366)::int, %s, '',
                   CASE WHEN i %% 2 = 1 THEN %s ELSE %s END, '', '{{}}', %s::jsonb, 'api',
                   'charge', CASE WHEN i %% 3 = 0 THEN 'pending' ELSE 'approved' END, %s, '',
                   now(), now()
            FROM generate_series(0::bigint, %s::bigint - 1) AS i
            CROSS JOIN LATERAL (SELECT (100 + (i * 7919) %% 49900) / 100.0 AS amount) a
            """,  # noqa: S608  # nosec B608 -- table name from model metadata
            [today, compute.pk, team_a.pk, team_b.pk, json.dumps(TAGS), submitter.pk, background],
        )
    summary_rebuild()  # the rows above were written directly: summarise them once
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # planner statistics, as a live database has them

    huge = Decimal("900000000")
    services.budget_create(
        name="Team A hard limit",
        amount=huge,
        currency="USD",
        organization_unit=team_a,
        action=Budget.Action.BLOCK,
        acting_user=admin,
    )
    services.budget_create(
        name="Team A cloud (EUR)",
        amount=huge,
        currency="EUR",
        period=Budget.Period.QUARTERLY,
        organization_unit=team_a,
        category=cloud,
        tags_filter={},
        action=Budget.Action.WARN,
        acting_user=admin,
    )
    services.budget_create(
        name="Company prod",
        amount=huge,
        currency="USD",
        period=Budget.Period.MONTHLY,
        organization_unit=root,
        tags_filter=TAGS,
        action=Budget.Action.BLOCK,
        acting_user=admin,
    )
    # Team B's costs match none: two budgets cover team A only, and its costs carry
    # another tag than the company budget's filter.
    return {"submitter": submitter, "a": team_a, "b": team_b, "category": compute}


def _round(ctx: dict, unit, rows: int, tags: dict) -> float:
    today = timezone.localdate()
    started = time.perf_counter()
    for _ in range(rows):
        cost_services.cost_create(
            submitted_by=ctx["submitter"],
            amount=Decimal("1.00"),
            currency="USD",
            incurred_on=today,
            organization_unit=unit,
            category=ctx["category"],
            tags=tags,
        )
    return time.perf_counter() - started


def _matching(ctx: dict, unit, tags: dict) -> int:
    from . import selectors

    return len(
        selectors.matching_budgets(
            unit_id=unit.pk,
            category_id=ctx["category"].pk,
            tags=tags,
            submitter_id=ctx["submitter"].pk,
            day=timezone.localdate(),
        )
    )


def run(
    *,
    rows: int | None,
    repeat: int,
    log: Callable[[str], None],
    background: int = BACKGROUND_COSTS,
) -> Iterator[dict]:
    rows = rows or DEFAULT_ROWS
    with bench_schema(SCHEMA, _models()):
        ctx = _setup(log, background)
        with_tags, without_tags = TAGS, {"env": "dev"}
        matched = _matching(ctx, ctx["a"], with_tags)
        unmatched = _matching(ctx, ctx["b"], without_tags)
        if (matched, unmatched) != (3, 0):
            raise RuntimeError(f"bench set-up matches {matched} and {unmatched} budgets")
        log(f"warming up, then {repeat} rounds of {rows} submissions per scenario …")
        _round(ctx, ctx["a"], max(rows // 10, 1), with_tags)
        _round(ctx, ctx["b"], max(rows // 10, 1), without_tags)
        budgeted, free = [], []
        for _ in range(repeat):
            free.append(_round(ctx, ctx["b"], rows, without_tags))
            budgeted.append(_round(ctx, ctx["a"], rows, with_tags))
        ours, floor = median(budgeted), median(free)
        common = {"submissions": rows, "rounds": repeat, "background_costs": background}
        yield {
            "scenario": "enforcement_no_budgets",
            "seconds": round(floor, 6),
            "submissions_per_s": round(rows / floor, 1),
            "matching_budgets": 0,
            **common,
        }
        yield {
            "scenario": "enforcement_three_budgets",
            "seconds": round(ours, 6),
            "submissions_per_s": round(rows / ours, 1),
            "matching_budgets": 3,
            **common,
        }
        yield result_line(
            "enforcement",
            ours=ours,
            floor=floor,
            throughput_ratio=round(floor / ours, 3),
            with_budgets_per_s=round(rows / ours, 1),
            without_budgets_per_s=round(rows / floor, 1),
            **common,
        )
