"""``costtrack bench rollup``: report selectors against hand-written SQL on a million costs.

Builds, with COPY into a throwaway schema, 2,000 units in 5 levels, 20,000 resources and
``rows`` costs over the 12 months of 2025 in 3 currencies, then times through the selectors
the report API uses, each against a hand-written SQL query on the same tables in the same run:

(a) ``rollup_trend``: the monthly trend of one division's subtree (``cost_totals`` by month);
(b) ``rollup_units``: one month by unit with subtree totals (``unit_subtree_totals``).

Both answers are compared with the SQL's before anything is printed.
"""

import io
import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from costtrack.core.bench import bench_schema, compare, result_line
from orgunits.models import Entity, OrganizationUnit, Resource

from . import reports
from .models import Cost, CostCategory
from .summary.check import summary_rebuild
from .summary.grains import GRAINS

SUMMARY_MODELS = [grain.model for grain in GRAINS]

DEFAULT_ROWS = 1_000_000
UNITS_PER_LEVEL = (1, 8, 48, 288, 1655)  # 2,000 units in 5 levels
RESOURCES = 20_000
CURRENCIES = (("USD", Decimal("1")), ("EUR", Decimal("1.08")), ("GBP", Decimal("1.27")))
YEAR = 2025
SCHEMA = "bench_rollup"
NULL = "\\N"  # COPY text format
NOW = datetime(YEAR, 12, 31, tzinfo=UTC)


def run(*, rows: int | None, repeat: int, log: Callable[[str], None]) -> Iterator[dict]:
    rows = rows or DEFAULT_ROWS
    models = [ContentType, Permission, Group, get_user_model()]
    models += [OrganizationUnit, Entity, Resource, CostCategory, Cost, *SUMMARY_MODELS]
    with bench_schema(SCHEMA, models):
        log(f"generating {rows} costs over {sum(UNITS_PER_LEVEL)} units …")
        units = generate(rows=rows, seed=20250101)
        log("data loaded and analysed; timing …")
        division = units[1]  # the first division (level 1)
        yield _trend(division, rows=rows, repeat=repeat)
        yield _units(rows=rows, repeat=repeat)


# --- data ------------------------------------------------------------------------------------
def _copy(table: str, columns: list[str], lines: Iterator[str]) -> None:
    raw = connection.connection  # the psycopg connection under Django's wrapper
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        buffer = io.StringIO()
        for n, line in enumerate(lines, 1):
            buffer.write(line)
            if n % 50_000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def _tree(units_per_level: tuple[int, ...] = UNITS_PER_LEVEL) -> list[tuple[int, int | None, int]]:
    """``(id, parent_id, level)`` in pre-order: each level's units spread over the previous."""
    parents: list[int | None] = [None]
    next_id = 1
    children: dict[int | None, list[int]] = {}
    levels: dict[int, int] = {}
    for level, count in enumerate(units_per_level):
        current = []
        for i in range(count):
            parent = parents[i % len(parents)]
            children.setdefault(parent, []).append(next_id)
            levels[next_id] = level
            current.append(next_id)
            next_id += 1
        parents = current
    order: list[tuple[int, int | None, int]] = []

    def walk(uid: int, parent: int | None) -> None:
        order.append((uid, parent, levels[uid]))
        for child in children.get(uid, []):
            walk(child, uid)

    walk(children[None][0], None)
    return order


def _mptt(order: list[tuple[int, int | None, int]]) -> dict[int, tuple[int, int]]:
    kids: dict[int, list[int]] = {}
    for uid, parent, _ in order:
        if parent is not None:
            kids.setdefault(parent, []).append(uid)
    bounds: dict[int, tuple[int, int]] = {}
    counter = 0
    stack: list[tuple[int, bool]] = [(order[0][0], False)]
    left: dict[int, int] = {}
    while stack:
        uid, done = stack.pop()
        counter += 1
        if done:
            bounds[uid] = (left[uid], counter)
            continue
        left[uid] = counter
        stack.append((uid, True))
        for child in reversed(kids.get(uid, [])):
            stack.append((child, False))
    return bounds


def generate(*, rows: int, seed: int) -> list[OrganizationUnit]:
    """Load the data set with COPY; return the units in tree order."""
    rnd = random.Random(seed)  # nosec B311
    user = get_user_model().objects.create(username="bench", email="bench@example.com")
    category_ids = [
        CostCategory.objects.create(name=name, slug=name).pk
        for name in ("compute", "storage", "network", "database", "saas", "labor")
    ]
    order = _tree()
    stamp = NOW.isoformat()
    copy_unit_tree(order, stamp)
    leafish = [uid for uid, _, level in order if level >= 2]
    resource_unit = [rnd.choice(leafish) for _ in range(RESOURCES)]
    _copy(
        "orgunits_resource",
        [
            "id",
            "provider",
            "provider_resource_id",
            "account",
            "region",
            "service",
            "name",
            "organization_unit_id",
            "tags",
            "created_at",
            "updated_at",
        ],  # fmt: skip
        (
            f"{i + 1}\t{('aws', 'gcp', 'azure')[i % 3]}\tres-{i + 1}\tacct-{i % 40}\t"
            f"eu-west-1\tcompute\tresource {i + 1}\t{unit}\t{{}}\t{stamp}\t{stamp}\n"
            for i, unit in enumerate(resource_unit)
        ),
    )
    first = date(YEAR, 1, 1)
    days = (date(YEAR, 12, 31) - first).days + 1
    teams = ("web", "data", "platform", "mobile")

    def cost_lines() -> Iterator[str]:
        for _ in range(rows):
            res = rnd.randrange(RESOURCES)
            currency, rate = CURRENCIES[rnd.randrange(3)]
            cents = rnd.randrange(1, 500_000)
            amount = Decimal(cents).scaleb(-2)
            reporting = (amount * rate).quantize(Decimal("0.01"))
            roll = rnd.random()
            status = "approved" if roll < 0.9 else ("pending" if roll < 0.97 else "rejected")
            day = first + timedelta(days=rnd.randrange(days))
            tags = json.dumps({"team": teams[res % 4]})
            yield (
                f"{amount}\t{currency}\t{reporting}\t{rate}\t{day}\t{category_ids[res % 6]}\t"
                f"\t{res + 1}\t{resource_unit[res]}\t\t{{}}\t{tags}\tapi\tcharge\t{status}\t"
                f"{user.pk}\t\t{stamp}\t{stamp}\n"
            )

    _copy(
        "costs_cost",
        [
            "amount",
            "currency",
            "amount_reporting",
            "exchange_rate",
            "incurred_on",
            "category_id",
            "description",
            "resource_id",
            "organization_unit_id",
            "url",
            "metadata",
            "tags",
            "source",
            "kind",
            "status",
            "submitted_by_id",
            "decision_comment",
            "created_at",
            "updated_at",
        ],  # fmt: skip
        cost_lines(),
    )
    summary_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return list(OrganizationUnit.objects.order_by("tree_id", "lft"))


# --- (a) the monthly trend of one division's subtree ----------------------------------------
TREND_SQL = """
SELECT date_trunc('month', c.incurred_on)::date AS month, SUM(c.amount_reporting)
FROM costs_cost c
JOIN orgunits_organizationunit u ON u.id = c.organization_unit_id
WHERE c.status = 'approved' AND c.incurred_on BETWEEN %s AND %s
  AND u.tree_id = %s AND u.lft >= %s AND u.rght <= %s
GROUP BY 1 ORDER BY 1
"""


def _trend(division: OrganizationUnit, *, rows: int, repeat: int) -> dict:
    start, end = date(YEAR, 1, 1), date(YEAR, 12, 31)

    def ours():
        return {
            r["month"]: r["total"]
            for r in reports.cost_totals(group_by=("month",), unit=division, start=start, end=end)
        }

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(TREND_SQL, [start, end, division.tree_id, division.lft, division.rght])
            return dict(cursor.fetchall())

    ours_s, floor_s, got, expected = compare(ours, floor, repeat=repeat)
    if got != expected:
        raise AssertionError(f"Trend differs from SQL: {got} != {expected}")
    return result_line(
        "rollup_trend", ours=ours_s, floor=floor_s, rows=rows, months=len(got),
        division=division.code, total=str(sum(got.values())),
    )  # fmt: skip


# --- (b) one month by unit with subtree totals ---------------------------------------------
UNITS_SQL = """
WITH direct AS (
    SELECT organization_unit_id AS unit_id, SUM(amount_reporting) AS total
    FROM costs_cost
    WHERE status = 'approved' AND incurred_on BETWEEN %s AND %s
    GROUP BY organization_unit_id
)
SELECT a.id,
       COALESCE(SUM(direct.total) FILTER (WHERE d.id = a.id), 0),
       COALESCE(SUM(direct.total), 0)
FROM orgunits_organizationunit a
JOIN orgunits_organizationunit d
  ON d.tree_id = a.tree_id AND d.lft >= a.lft AND d.lft <= a.rght
LEFT JOIN direct ON direct.unit_id = d.id
GROUP BY a.id
"""


def _units(*, rows: int, repeat: int) -> dict:
    start, end = date(YEAR, 6, 1), date(YEAR, 6, 30)

    def ours():
        return reports.unit_subtree_totals(start=start, end=end)

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(UNITS_SQL, [start, end])
            return {uid: (own, total) for uid, own, total in cursor.fetchall()}

    ours_s, floor_s, got, expected = compare(ours, floor, repeat=repeat)
    if got != expected:
        diff = {k: (got.get(k), expected.get(k)) for k in set(got) | set(expected)}
        diff = {k: v for k, v in diff.items() if v[0] != v[1]}
        raise AssertionError(f"Unit totals differ from SQL for {len(diff)} units: {diff}")
    root_total = max(total for _, total in got.values())
    return result_line(
        "rollup_units", ours=ours_s, floor=floor_s, rows=rows, units=len(got),
        month=f"{YEAR}-06", total=str(root_total),
    )  # fmt: skip


def copy_unit_tree(order: list[tuple[int, int | None, int]], stamp: str) -> None:
    """COPY the units of ``_tree`` (id, parent, level) with their MPTT bounds, as one tree
    (the benchmarks of rollups, pages and recommendations share it)."""
    bounds = _mptt(order)
    _copy(
        "orgunits_organizationunit",
        [
            "id",
            "name",
            "code",
            "parent_id",
            "description",
            "active",
            "created_at",
            "updated_at",
            "lft",
            "rght",
            "tree_id",
            "level",
        ],  # fmt: skip
        (
            f"{uid}\tUnit {uid}\tu{uid}\t{NULL if parent is None else parent}\t\tt\t"
            f"{stamp}\t{stamp}\t{bounds[uid][0]}\t{bounds[uid][1]}\t1\t{level}\n"
            for uid, parent, level in order
        ),
    )
