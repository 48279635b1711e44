"""``costtrack bench pages --costs N``: what users wait for, on N costs, beside a floor.

In a throwaway schema holding every table of the project, builds a mid-size organisation —
259 units in 4 levels (company, 6 divisions, 36 departments, 216 teams), 3,000 cloud
resources on the departments and teams, each billed in one of three currencies and booked in
one of six categories, 43 budgets (monthly, quarterly and annual, in USD and EUR, on the
company, divisions and departments) — and N costs (default 1,000,000) spread over the
resources and the 12 months up to today (90 % approved, 7 % pending, 3 % rejected; about
what daily FOCUS imports of 2,500–25,000 resources make in a year; recorded by a member,
so finance's approval inbox holds every pending one), generated inside
PostgreSQL with ``generate_series`` and summarised with ``costtrack summaries rebuild``.
Then, signed in as finance through the Django test client, times every page and report a
person opens: the median of ``--repeat`` requests after a warm-up, each beside its floor,
the same answer as hand-written SQL over the spend summary, timed alternately in the same
run. Every response must answer 200 before its line is printed.
"""

# ruff: noqa: S608 -- floors are fixed SQL of this module; values are bound parameters.

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.utils import timezone

from budgets.models import Budget
from costs.bench_rollup import _tree, copy_unit_tree
from costs.models import CostCategory, ExchangeRate
from costs.summary.check import summary_rebuild
from orgunits.models import OrganizationUnit

from .core.bench import bench_schema, compare, result_line

DEFAULT_COSTS = 1_000_000
SCHEMA = "bench_pages"
NULL = "\\N"
CATEGORIES = ("compute", "storage", "network", "database", "saas", "labor")
UNITS_PER_LEVEL = (1, 6, 36, 216)
RESOURCES = 3_000


def run(*, rows: int | None, repeat: int, log: Callable[[str], None]) -> Iterator[dict]:
    costs = rows or DEFAULT_COSTS
    models = [m for m in apps.get_models() if m._meta.managed and not m._meta.proxy]
    with bench_schema(SCHEMA, models):
        started = timezone.now()
        units = sum(UNITS_PER_LEVEL)
        log(f"generating {costs} costs over {units} units and {RESOURCES} resources …")
        world = _generate(costs)
        seconds = (timezone.now() - started).total_seconds()
        log(f"data and summary ready in {seconds:.0f} s; timing pages …")
        client = Client()
        client.force_login(world["finance"])
        for name, url, floor_sql, floor_params in _scenarios(world):
            yield _measure(client, name, url, floor_sql, floor_params, costs=costs, repeat=repeat)


# --- data ------------------------------------------------------------------------------------
def _generate(costs: int) -> dict:
    user_model = get_user_model()
    finance, _ = user_model.objects.get_or_create(
        username="finance", defaults={"email": "finance@example.com"}
    )
    finance.groups.add(Group.objects.get_or_create(name="finance")[0])
    # costs are recorded by a member, so finance's inbox holds every pending cost (the worst
    # case for the dashboard's and the inbox's queue)
    member, _ = user_model.objects.get_or_create(
        username="member", defaults={"email": "member@example.com"}
    )
    Group.objects.get_or_create(name="auditor")
    categories = [
        CostCategory.objects.get_or_create(slug=n, defaults={"name": n})[0].pk for n in CATEGORIES
    ]
    order = _tree(UNITS_PER_LEVEL)
    stamp = datetime.now(UTC).isoformat()
    copy_unit_tree(order, stamp)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.2025)")
        cursor.execute(
            """
            INSERT INTO orgunits_resource (id, provider, provider_resource_id, account, region,
                service, name, organization_unit_id, tags, created_at, updated_at)
            SELECT g, (ARRAY['aws', 'gcp', 'azure'])[1 + g %% 3], 'res-' || g, 'acct-' || g %% 40,
                   'eu-west-1', 'compute', 'resource ' || g,
                   u.ids[1 + (g * 7919) %% array_length(u.ids, 1)], '{}', now(), now()
            FROM generate_series(1, %s) g,
                 (SELECT array_agg(id ORDER BY id) AS ids FROM orgunits_organizationunit
                  WHERE level >= 2) u
            """,
            [RESOURCES],
        )
        today = timezone.localdate()
        first = today - timedelta(days=364)
        rebuild = _drop_indexes(cursor, "costs_cost")
        cursor.execute(
            """
            INSERT INTO costs_cost (amount, currency, amount_reporting, exchange_rate, incurred_on,
                category_id, description, resource_id, organization_unit_id, url, metadata, tags,
                source, kind, status, submitted_by_id, submitted_at, decision_comment, created_at,
                updated_at)
            SELECT s.amount, s.currency, round(s.amount * s.rate, 2), s.rate, s.day,
                   (%s::bigint[])[1 + s.res %% 6], '', s.res, r.organization_unit_id, '', '{}',
                   jsonb_build_object('team',
                       (ARRAY['web', 'data', 'platform', 'mobile'])[1 + s.res %% 4]),
                   'api', 'charge',
                   CASE WHEN s.roll < 0.9 THEN 'approved' WHEN s.roll < 0.97 THEN 'pending'
                        ELSE 'rejected' END,
                   %s, s.day + time '09:00' + s.roll * interval '8 hours', '', now(), now()
            FROM (
                SELECT 1 + floor(random() * %s)::int AS res, random() AS roll,
                       NULL::text AS currency,
                       round((1 + random() * 4999)::numeric, 2) AS amount,
                       %s::date + floor(random() * 365)::int AS day
                FROM generate_series(1, %s)
            ) s0
            CROSS JOIN LATERAL (SELECT s0.res, s0.roll, s0.amount, s0.day,
                                (ARRAY['USD', 'EUR', 'GBP'])[1 + s0.res %% 3] AS currency,
                                (ARRAY[1, 1.08, 1.27])[1 + s0.res %% 3] AS rate) s
            JOIN orgunits_resource r ON r.id = s.res
            """,
            [categories, member.pk, RESOURCES, first, costs],
        )
        for statement in rebuild:
            cursor.execute(statement)
    for code, rate in (("EUR", Decimal("1.08")), ("GBP", Decimal("1.27"))):
        ExchangeRate.objects.create(currency=code, date=first - timedelta(days=1), rate=rate)
    units = list(OrganizationUnit.objects.order_by("tree_id", "lft"))
    root, team = units[0], next(u for u in units if u.level == len(UNITS_PER_LEVEL) - 1)
    for i, unit in enumerate(u for u in units if u.level <= 2):
        Budget.objects.create(
            name=f"Budget {unit.name}",
            slug=f"budget-{unit.pk}",
            amount=Decimal(5_000_000 if unit.level < 2 else 500_000),
            currency="EUR" if i % 4 == 3 else "USD",
            period=("monthly", "quarterly", "annual")[i % 3],
            organization_unit=unit,
            action="warn",
            created_by=finance,
        )
    summary_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    resource = _one(
        "SELECT resource_id FROM costs_cost WHERE organization_unit_id = %s LIMIT 1", [team.pk]
    )
    return {"finance": finance, "root": root, "team": team, "resource": resource, "today": today}


def _drop_indexes(cursor, table: str) -> list[str]:
    """Drop the table's indexes that back no constraint and return the statements that build
    them again: millions of rows load several times faster into a table without indexes,
    and an index built once over them is the same index (a bulk load's usual order)."""
    cursor.execute("SET maintenance_work_mem = '1GB'")
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = %s::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
        ORDER BY 1
        """,
        [table],
    )
    found = cursor.fetchall()
    for name, _ in found:
        cursor.execute(f"DROP INDEX {name}")  # nosec B608 -- a name from the catalogue
    return [definition for _, definition in found]


def _one(sql: str, params: list):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


# --- what is timed ---------------------------------------------------------------------------
SUBTREE = (
    "organization_unit_id IN (SELECT id FROM orgunits_organizationunit "
    "WHERE tree_id = %s AND lft >= %s AND rght <= %s)"
)
TREND_FLOOR = (
    "SELECT month, SUM(amount_reporting) FROM costs_spend_month "  # nosec B608
    f"WHERE status = 'approved' AND month >= %s AND {SUBTREE} GROUP BY 1 ORDER BY 1"
)
BY_UNIT_FLOOR = (
    "SELECT organization_unit_id, SUM(amount_reporting) FROM costs_spend_month "  # nosec B608
    f"WHERE status = 'approved' AND month >= %s AND {SUBTREE} GROUP BY 1"
)
RESOURCE_FLOOR = (
    "SELECT month, SUM(amount_reporting) FROM costs_spend_month_detail "
    "WHERE status = 'approved' AND resource_key = %s AND month >= %s GROUP BY 1 ORDER BY 1"
)
LIST_FLOOR = (
    "SELECT id, amount, currency, incurred_on, status FROM costs_cost "
    "ORDER BY incurred_on DESC, id DESC LIMIT 50"
)
PENDING_FLOOR = (
    "SELECT id, amount FROM costs_cost WHERE status = 'pending' ORDER BY submitted_at, id LIMIT 50"
)
TAG_FLOOR = (
    "SELECT tag_key, tag_value, SUM(amount_reporting) FROM costs_spend_month_tag "
    "WHERE status = 'approved' AND month >= %s GROUP BY 1, 2"
)
CSV_FLOOR = (
    "SELECT id, amount, currency, incurred_on FROM costs_cost "  # nosec B608
    "WHERE organization_unit_id = %s AND incurred_on >= %s AND incurred_on <= %s ORDER BY id"
)
BUDGET_FLOOR = (
    "SELECT b.id, (SELECT SUM(s.amount_reporting) FROM costs_spend_month s "  # nosec B608
    "WHERE s.status = 'approved' AND s.month >= %s AND s.organization_unit_id IN "
    "(SELECT id FROM orgunits_organizationunit u WHERE u.tree_id = ou.tree_id "
    "AND u.lft >= ou.lft AND u.rght <= ou.rght)) FROM budgets_budget b "
    "JOIN orgunits_organizationunit ou ON ou.id = b.organization_unit_id"
)


def _scenarios(world: dict) -> list[tuple[str, str, str, list]]:
    root, team, today = world["root"], world["team"], world["today"]
    year_ago = (today - timedelta(days=364)).replace(day=1)
    month = today.replace(day=1)
    # the export's month: the last whole one (this month may be a day old)
    last_month = (month - timedelta(days=1)).replace(day=1)
    last_month_end = month - timedelta(days=1)
    root_range = [root.tree_id, root.lft, root.rght]
    team_range = [team.tree_id, team.lft, team.rght]
    return [
        ("page /", "/", BY_UNIT_FLOOR, [month, *root_range]),
        (
            f"page /units/{root.pk}/ (root)",
            f"/units/{root.pk}/",
            TREND_FLOOR,
            [year_ago, *root_range],
        ),
        (
            f"page /units/{team.pk}/ (team)",
            f"/units/{team.pk}/",
            TREND_FLOOR,
            [year_ago, *team_range],
        ),
        (
            f"page /resources/{world['resource']}/",
            f"/resources/{world['resource']}/",
            RESOURCE_FLOOR,
            [world["resource"], year_ago],
        ),
        ("page /budgets/", "/budgets/", BUDGET_FLOOR, [month]),
        ("page /approvals/", "/approvals/", PENDING_FLOOR, []),
        ("page /allocation/", "/allocation/", LIST_FLOOR, []),
        ("page /costs/ (explorer)", "/costs/?group_by=month", TREND_FLOOR, [year_ago, *root_range]),
        ("page /costs/mine/", "/costs/mine/", LIST_FLOOR, []),
        (
            "api reports/summary annual",
            "/api/v1/reports/summary/?period=annual",
            TAG_FLOOR,
            [year_ago],
        ),
        (
            "api reports/costs by month",
            "/api/v1/reports/costs/?group_by=month",
            TREND_FLOOR,
            [year_ago, *root_range],
        ),
        (
            "api reports/costs by unit,month",
            "/api/v1/reports/costs/?group_by=organization_unit,month",
            BY_UNIT_FLOOR,
            [year_ago, *root_range],
        ),
        (
            f"api org-units/{root.pk}/rollup",
            f"/api/v1/org-units/{root.pk}/rollup/",
            BY_UNIT_FLOOR,
            [year_ago, *root_range],
        ),
        ("api reports/budget-variance", "/api/v1/reports/budget-variance/", BUDGET_FLOOR, [month]),
        ("api costs list first page", "/api/v1/costs/", LIST_FLOOR, []),
        (
            "api costs of one team's month as CSV",
            f"/api/v1/costs/?organization_unit={team.pk}&incurred_after={last_month}"
            f"&incurred_before={last_month_end}&format=csv&limit=1000",
            CSV_FLOOR,
            [team.pk, last_month, last_month_end],
        ),
    ]


def _measure(client, name, url, floor_sql, floor_params, *, costs: int, repeat: int) -> dict:
    def ours():
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        return b"".join(response) if response.streaming else response.content

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(floor_sql, floor_params)
            return cursor.fetchall()

    ours_s, floor_s, body, expected = compare(ours, floor, repeat=repeat)
    extra = {}
    if "format=csv" in url:
        # the export and its floor must answer the same rows (a filter the list ignored
        # once made the export a year while the floor read a month)
        extra = {"rows": body.count(b"\n") - 1, "floor_rows": len(expected)}
    return result_line(
        name, ours=ours_s, floor=floor_s, costs=costs, url=url, bytes=len(body), **extra
    )
