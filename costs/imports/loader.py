"""Set-based SQL that turns the validated FOCUS rows into costs.

Rows are summed into one cost per *charge group*: billing account, sub-account, provider,
publisher, service, charge category, resource, region, currency, charge period (days), tags
and sign. Amounts are rounded to the currency's minor unit so that the costs of one account,
service and day sum exactly to that bucket's file total, rounded half-even
(``ROUNDED_GROUPS``).

Every statement works on temporary tables (``_focus_*``, dropped at commit) and writes the
real tables with ``INSERT ... SELECT``: resources (``ON CONFLICT`` on provider and id), costs,
their audit events and their import links — one statement each, whatever the file size.
"""

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from costtrack.core.money import currencies, reporting_currency
from orgunits.models import OrganizationUnit

from ..models import Cost, CostCategory, CostEvent, ImportApprovalPolicy, ImportBatch, ImportedCost
from .focus import CHARGE_CATEGORIES, FocusFileError, file_error
from .focus import _valid_datetime as valid_datetime
from .rules import PROVIDER_SQL, SERVICE_CATEGORY_SLUGS

COST_ID_SEQUENCE = "pg_get_serial_sequence('costs_cost', 'id')"


@dataclass
class BillingScope:
    billing_account_id: str
    billing_account_name: str
    period_start: date
    period_end: date
    provider: str


@dataclass
class LoadResult:
    costs_created: int = 0
    costs_auto_approved: int = 0
    imported_rows: int = 0
    skipped_rows: int = 0
    unmapped_rows: int = 0
    resources_created: int = 0
    totals: dict[str, str] = field(default_factory=dict)
    total_reporting: Decimal = Decimal(0)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    approver_ids: set[int] = field(default_factory=set)
    finance_routed: bool = False


def _execute(sql: str, params: Any = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _fetch(sql: str, params: Any = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def billing_scope() -> BillingScope:
    """The one billing account and billing period the file covers (else ``FocusFileError``)."""
    rows = _fetch(
        """
        SELECT billing_account_id, max(billing_account_name), billing_start_text::timestamptz,
               billing_end_text::timestamptz, max(provider_name), min(first_line)
        FROM _focus_groups GROUP BY billing_account_id, billing_start_text, billing_end_text
        ORDER BY min(first_line) LIMIT 6
        """
    )
    if len(rows) > 1:
        listed = "; ".join(
            f"{r[0]} {r[2]:%Y-%m-%d}…{r[3]:%Y-%m-%d} (from line {r[5]})" for r in rows
        )
        raise file_error(
            "A file must cover one billing account and one billing period; this one covers "
            f"{'more than 5' if len(rows) > 5 else len(rows)}: {listed}.",
            line=rows[1][5],
            column="BillingAccountId",
        )
    account, name, start, end, provider, _ = rows[0]
    # FOCUS periods end exclusively (the next month's first instant): keep the last day.
    last_day = max(start.date(), (end - timezone.timedelta(microseconds=1)).date())
    return BillingScope(account, name or "", start.date(), last_day, provider or "")


def charge_days() -> list[date]:
    """The distinct charge days of the file's costs."""
    return [day for (day,) in _fetch("SELECT DISTINCT day FROM _focus_groups WHERE sign <> 0")]


def prepare_rates() -> None:
    """``_focus_rates``: the rate of every (currency, charge day), latest on or before it."""
    _execute(
        """
        CREATE TEMP TABLE _focus_rates ON COMMIT DROP AS
        SELECT d.currency, d.day,
            CASE WHEN d.currency = %(reporting)s THEN 1::numeric ELSE (
                SELECT x.rate FROM costs_exchangerate x
                WHERE x.currency = d.currency AND x.date <= d.day
                ORDER BY x.date DESC LIMIT 1
            ) END AS rate
        FROM (SELECT DISTINCT currency, day FROM _focus_groups WHERE sign <> 0) d
        """,
        {"reporting": reporting_currency()},
    )


def rate_errors(limit: int) -> tuple[list[dict[str, Any]], int]:
    rows = _fetch(
        """
        SELECT g.first_line, g.currency, g.day, sum(g.lines) OVER ()
        FROM _focus_groups g JOIN _focus_rates x ON x.currency = g.currency AND x.day = g.day
        WHERE x.rate IS NULL AND g.sign <> 0 ORDER BY g.first_line LIMIT %s
        """,
        [limit],
    )
    if not rows:
        return [], 0
    errors = [
        {
            "line": line,
            "column": "BillingCurrency",
            "message": f"no exchange rate for {cur} on or before {day:%Y-%m-%d}",
        }
        for line, cur, day, _ in rows
    ]
    return errors, int(rows[0][3])


ROUND_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.round_half_even(v numeric, d int) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN abs(v * power(10::numeric, d) - trunc(v * power(10::numeric, d))) = 0.5
             AND mod(trunc(v * power(10::numeric, d)), 2) = 0
        THEN trunc(v * power(10::numeric, d)) / power(10::numeric, d)
        ELSE round(v, d)
    END
$$
"""


# The groups that make costs, each with its amount in the currency's minor unit. Rounding
# each group on its own would let the cents drift from the file's totals (two resources at
# 0.004 each make 0.00, not 0.01); instead every group of one billing account, sub-account,
# service, day and currency gets its amount floored, and the units the floors lost from the
# bucket's half-even total go one each to the largest remainders (earliest line first on a
# tie). So the costs of a bucket sum exactly to its rounded total.
ROUNDED_GROUPS = """
    SELECT b.*,
        round((b.floor_units + CASE WHEN b.remainder_rank <= b.lost_units THEN 1 ELSE 0 END)
              / power(10::numeric, b.digits), b.digits) AS amount
    FROM (
        SELECT u.*,
            pg_temp.round_half_even(sum(u.units) OVER bucket, 0)
                - sum(u.floor_units) OVER bucket AS lost_units,
            row_number() OVER (bucket ORDER BY u.units - u.floor_units DESC, u.first_line)
                AS remainder_rank
        FROM (
            SELECT d.*, floor(d.units) AS floor_units
            FROM (
                SELECT g0.*, (%(digits)s::jsonb ->> g0.currency)::int AS digits,
                    g0.amount_exact
                        * power(10::numeric, (%(digits)s::jsonb ->> g0.currency)::int) AS units
                FROM _focus_groups g0 WHERE g0.sign <> 0
            ) d
        ) u
        WINDOW bucket AS (PARTITION BY u.billing_account_id, u.sub_account_id, u.service_name,
                          u.day, u.currency)
    ) b
"""


def group_rows(
    source: str, *, custom_columns: list[str], currencies: list[str], grain: str = "day"
) -> None:
    """``_focus_groups``: the rows of ``source`` (SQL) summed per charge group.

    Rows of amount zero form groups of their own (``sign`` 0) that make no cost. An ``x_``
    custom column keeps its value when it is the same on every row of the group.
    ``problem`` flags groups with rows the fast casts let through but the import refuses.
    """
    customs = "".join(
        f', CASE WHEN min(x{i} COLLATE "C") = max(x{i} COLLATE "C") '
        f'THEN min(x{i} COLLATE "C") END AS x{i}'
        for i in range(len(custom_columns))
    )

    def t(column: str, limit: int) -> str:
        return f"left(btrim(coalesce({column}, '')), {limit})"

    last_day = "GREATEST(charge_start::date, (charge_end - interval '1 microsecond')::date)"
    if grain == "month":
        # One cost per resource and month: the period runs to the group's last charged day.
        day, day_end, grouped_days = (
            "date_trunc('month', charge_start)::date",
            f"max({last_day})",
            "day",
        )
    else:
        day, day_end, grouped_days = "charge_start::date", last_day, "day, day_end"

    def agg(function: str, column: str, limit: int) -> str:
        # Byte order ("C") is all a min/max needs here, and far cheaper than a locale's.
        return f"left(btrim(coalesce({function}({column} COLLATE \"C\"), '')), {limit})"

    _execute("SET LOCAL work_mem = '1GB'")
    _execute("DROP TABLE IF EXISTS _focus_groups")
    _execute(
        f"""
        CREATE TEMP TABLE _focus_groups ON COMMIT DROP AS
        SELECT min(line) AS first_line, count(*) AS lines,
            {t("billing_account_id", 255)} AS billing_account_id,
            btrim(billing_start_text) AS billing_start_text,
            btrim(billing_end_text) AS billing_end_text,
            {t("sub_account_id", 128)} AS sub_account_id,
            {t("provider_name", 64)} AS provider_name,
            {t("publisher_name", 128)} AS publisher_name,
            {t("service_name", 128)} AS service_name,
            {t("service_category", 64)} AS service_category,
            initcap({t("charge_category", 16)}) AS charge_category,
            {t("resource_id", 512)} AS resource_id,
            {t("region_id", 64)} AS region_id,
            upper(btrim(currency)) AS currency,
            {day} AS day,
            {day_end} AS day_end,
            btrim(tags_text) AS tags_text, sign(amount) AS sign, sign(amount) < 0 AS negative,
            sum(amount) AS amount_exact, sum(billed_cost) AS billed_cost,
            sum(list_cost) AS list_cost, sum(effective_cost) AS effective_cost,
            {agg("max", "billing_account_name", 255)} AS billing_account_name,
            {agg("max", "sub_account_name", 255)} AS sub_account_name,
            {agg("max", "resource_name", 255)} AS resource_name,
            {agg("max", "resource_type", 128)} AS resource_type,
            {agg("max", "charge_class", 32)} AS charge_class,
            {agg("min", "description", 500)} AS description_min,
            {agg("max", "description", 500)} AS description_max,
            bool_or(amount IS NULL OR NOT abs(amount) < 1e12
                OR NOT coalesce(abs(billed_cost) < 1e12, true)
                OR NOT coalesce(abs(list_cost) < 1e12, true)
                OR NOT coalesce(abs(effective_cost) < 1e12, true)
                OR charge_start IS NULL OR charge_end IS NULL OR charge_end < charge_start)
            OR upper(btrim(currency)) <> ALL(%(currencies)s)
            OR coalesce(btrim(billing_account_id), '') = ''
            OR coalesce(lower(btrim(charge_category)), '') <> ALL(%(charge_categories)s)
                AS problem
            {customs}
        FROM ({source} OFFSET 0) r
        GROUP BY billing_account_id, billing_start_text, billing_end_text, sub_account_id,
            provider_name, publisher_name, service_name, service_category, charge_category,
            resource_id, region_id, currency, {grouped_days}, tags_text, sign(amount)
        """,  # noqa: S608  # nosec B608 (this package's SQL and staging names only)
        {"currencies": currencies, "charge_categories": list(CHARGE_CATEGORIES)},
    )


def groups_have_problems() -> bool:
    """Did the fast path let through anything the precise pass would refuse?"""
    (flagged,) = _fetch(
        f"""
        SELECT EXISTS (SELECT 1 FROM _focus_groups WHERE problem)
            OR EXISTS (SELECT 1 FROM _focus_tags WHERE tags IS NULL)
            OR NOT (SELECT bool_and({valid_datetime("s")} AND {valid_datetime("e")}
                                    AND e::timestamptz >= s::timestamptz)
                    FROM (SELECT DISTINCT billing_start_text AS s, billing_end_text AS e
                          FROM _focus_groups) d)
        """  # noqa: S608  # nosec B608 (constants only)
    )[0]
    return bool(flagged)


def row_counts() -> tuple[int, int]:
    """Rows that made costs, and rows of amount zero (skipped)."""
    (counts,) = _fetch(
        "SELECT coalesce(sum(lines) FILTER (WHERE sign <> 0), 0), "
        "coalesce(sum(lines) FILTER (WHERE sign = 0), 0) FROM _focus_groups"
    )
    return int(counts[0]), int(counts[1])


def _unit_table(*, submitter_id: int) -> None:
    """``_focus_units``: per unit, its unit-chain approver and the auto-approval policy.

    Mirrors ``costs.approvers.resolve_approver`` for the unit part of the chain: the nearest
    owner up the tree who is active and not the submitter (NULL: finance decides).
    """
    units = {
        pk: (parent, owner, active)
        for pk, parent, owner, active in OrganizationUnit.objects.values_list(
            "pk", "parent_id", "owner_id", "owner__is_active"
        )
    }
    policies = {p.organization_unit_id: p for p in ImportApprovalPolicy.objects.filter(active=True)}
    rows = []
    for pk in units:
        approver = policy = None
        cursor = pk
        while cursor is not None:
            parent, owner, active = units[cursor]
            if approver is None and owner and owner != submitter_id and active:
                approver = owner
            if policy is None:
                policy = policies.get(cursor)
            if approver is not None and policy is not None:
                break
            cursor = parent
        rows.append(
            (
                pk,
                approver,
                policy.max_amount if policy else None,
                policy.currency if policy else None,
                policy.organization_unit_id if policy else None,
            )
        )
    _execute(
        "CREATE TEMP TABLE _focus_units (unit_id bigint PRIMARY KEY, approver_id bigint, "
        "policy_max numeric, policy_currency text, policy_unit_id bigint) ON COMMIT DROP"
    )
    if rows:
        _execute(
            "INSERT INTO _focus_units SELECT * FROM unnest(%s::bigint[], %s::bigint[], "
            "%s::numeric[], %s::text[], %s::bigint[])",
            [list(col) for col in zip(*rows, strict=True)],
        )


def _category_ids() -> dict[str, int]:
    slugs = set(SERVICE_CATEGORY_SLUGS.values()) | {"other"}
    found = dict(CostCategory.objects.filter(slug__in=slugs).values_list("slug", "pk"))
    if "other" not in found:
        other = CostCategory(name="Other", slug="other")
        other.full_clean()
        other.save()
        found["other"] = other.pk
    return found


def map_groups(*, batch: ImportBatch, default_unit_id: int | None) -> None:
    """``_focus_mapped``: each group with its rule, its known resource and its amount.

    Creates the unknown resources under the mapped unit. Raises ``FocusFileError`` when rows
    have no unit (no rule, no known resource, no default unit).
    """
    _execute(ROUND_FUNCTION)
    _execute(
        """
        CREATE TEMP TABLE _focus_rules ON COMMIT DROP AS
        SELECT r.id, r.priority, lower(r.match_provider) AS provider,
            r.match_billing_account AS billing_account, r.match_sub_account AS sub_account,
            lower(r.match_service) AS service, r.match_tag_key AS tag_key,
            r.match_tag_value AS tag_value, r.organization_unit_id, r.entity_id,
            e.organization_unit_id AS entity_unit_id, r.category_id
        FROM costs_mappingrule r LEFT JOIN orgunits_entity e ON e.id = r.entity_id
        WHERE r.active
        """
    )
    digits = json.dumps(currencies())
    # Rules are matched per charge group, not per row: a handful of rules, far fewer groups.
    _execute(
        f"""
        CREATE TEMP TABLE _focus_mapped ON COMMIT DROP AS
        SELECT g.*, p.provider_code,
            coalesce(t.tags, '{{}}'::jsonb) AS tags,
            x.rate,
            m.id AS rule_id, m.organization_unit_id AS rule_unit_id, m.entity_id AS rule_entity_id,
            m.entity_unit_id AS rule_entity_unit_id, m.category_id AS rule_category_id,
            res.id IS NOT NULL AS known_resource, res.organization_unit_id AS known_unit_id
        FROM ({ROUNDED_GROUPS}) g
        CROSS JOIN LATERAL (SELECT {PROVIDER_SQL} AS provider_code) p
        LEFT JOIN _focus_tags t ON t.tags_text = g.tags_text
        JOIN _focus_rates x ON x.currency = g.currency AND x.day = g.day
        LEFT JOIN orgunits_resource res
          ON g.resource_id <> '' AND res.provider = p.provider_code
         AND res.provider_resource_id = g.resource_id
        LEFT JOIN LATERAL (
            SELECT r.* FROM _focus_rules r
            WHERE (r.provider = '' OR r.provider = lower(g.provider_name))
              AND (r.billing_account = '' OR r.billing_account = g.billing_account_id)
              AND (r.sub_account = '' OR r.sub_account = g.sub_account_id)
              AND (r.service = '' OR r.service = lower(g.service_name))
              AND (r.tag_key = '' OR (coalesce(t.tags, '{{}}'::jsonb) ? r.tag_key
                   AND (r.tag_value = '' OR t.tags ->> r.tag_key = r.tag_value)))
            ORDER BY r.priority, r.id LIMIT 1
        ) m ON true
        """,  # noqa: S608  # nosec B608 (constants of this module only)
        {"digits": digits},
    )
    missing = _fetch(
        """
        SELECT first_line, sub_account_id, service_name, count(*) OVER ()
        FROM _focus_mapped
        WHERE rule_unit_id IS NULL AND rule_entity_unit_id IS NULL AND known_unit_id IS NULL
          AND %s::bigint IS NULL
        ORDER BY first_line LIMIT 20
        """,
        [default_unit_id],
    )
    if missing:
        raise FocusFileError(
            [
                {
                    "line": line,
                    "column": "",
                    "message": "no mapping rule or known resource places this row "
                    f"(sub-account {sub or '—'}, service {svc or '—'}) and no default unit "
                    "is set",
                }
                for line, sub, svc, _ in missing
            ],
            error_count=missing[0][3],
        )
    batch._resources_created = _execute(
        """
        INSERT INTO orgunits_resource (provider, provider_resource_id, account, region, service,
            name, organization_unit_id, entity_id, tags, created_at, updated_at)
        SELECT DISTINCT ON (provider_code, resource_id)
            provider_code, resource_id, left(coalesce(nullif(sub_account_id, ''),
            billing_account_id), 128), region_id, service_name,
            left(coalesce(nullif(resource_name, ''), resource_id), 255),
            coalesce(rule_unit_id, rule_entity_unit_id, %(default_unit)s), rule_entity_id, tags,
            now(), now()
        FROM _focus_mapped
        WHERE resource_id <> '' AND NOT known_resource
        ORDER BY provider_code, resource_id, first_line
        ON CONFLICT (provider, provider_resource_id) DO NOTHING
        """,
        {"default_unit": default_unit_id},
    )


def finish_mapping(*, submitter_id: int, default_unit_id: int | None) -> None:
    """``_focus_costs``: each group ready to insert — cost id, unit, entity, category,
    reporting amount, approver and the auto-approval verdict — in one statement."""
    _unit_table(submitter_id=submitter_id)
    slugs = _category_ids()
    service_map = {
        name: slugs[slug] for name, slug in SERVICE_CATEGORY_SLUGS.items() if slug in slugs
    }
    _execute(
        f"""
        CREATE TEMP TABLE _focus_costs ON COMMIT DROP AS
        WITH placed AS (
            SELECT m.*, res.id AS res_id, res.owner_id AS res_owner_id,
                coalesce(m.rule_unit_id, m.rule_entity_unit_id, res.organization_unit_id,
                         %(default_unit)s) AS unit_id,
                coalesce(m.rule_entity_id, res.entity_id) AS entity_id,
                coalesce(m.rule_category_id,
                    (%(service_map)s::jsonb ->> lower(m.service_category))::bigint, %(other)s)
                    AS category_id,
                pg_temp.round_half_even(m.amount * m.rate, %(reporting_digits)s)
                    AS amount_reporting
            FROM _focus_mapped m
            LEFT JOIN orgunits_resource res
              ON m.resource_id <> '' AND res.provider = m.provider_code
             AND res.provider_resource_id = m.resource_id
        ), routed AS (
            SELECT p.*, nextval({COST_ID_SEQUENCE}) AS cost_id,
                CASE
                    WHEN ro.id IS NOT NULL AND ro.id <> %(submitter)s AND ro.is_active THEN ro.id
                    WHEN eo.id IS NOT NULL AND eo.id <> %(submitter)s AND eo.is_active THEN eo.id
                    ELSE u.approver_id END AS approver_id,
                u.policy_unit_id, u.policy_max, u.policy_currency
            FROM placed p
            JOIN _focus_units u ON u.unit_id = p.unit_id
            LEFT JOIN auth_user ro ON ro.id = p.res_owner_id
            LEFT JOIN orgunits_entity e ON e.id = p.entity_id
            LEFT JOIN auth_user eo ON eo.id = e.owner_id
        )
        SELECT r.*, coalesce(r.policy_max IS NOT NULL AND CASE
                WHEN r.policy_currency = r.currency THEN r.amount <= r.policy_max
                WHEN r.policy_currency = %(reporting)s THEN r.amount_reporting <= r.policy_max
                ELSE r.amount_reporting <= r.policy_max * (
                    SELECT x.rate FROM costs_exchangerate x
                    WHERE x.currency = r.policy_currency AND x.date <= r.day
                    ORDER BY x.date DESC LIMIT 1)
            END, false) AS auto_approved
        FROM routed r
        """,  # noqa: S608  # nosec B608 (constants of this module only)
        {
            "default_unit": default_unit_id,
            "service_map": json.dumps(service_map),
            "other": slugs["other"],
            "reporting_digits": currencies()[reporting_currency()],
            "submitter": submitter_id,
            "reporting": reporting_currency(),
        },
    )


def budget_groups() -> list[dict[str, Any]]:
    """Charge totals per unit, category, currency and month, for the budget checks."""
    rows = _fetch(
        """
        SELECT unit_id, category_id, currency, date_trunc('month', day)::date, min(day),
               sum(amount), sum(amount_reporting)
        FROM _focus_costs WHERE NOT negative
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        """
    )
    return [
        {
            "organization_unit_id": unit,
            "category_id": category,
            "currency": currency,
            "incurred_on": first_day,
            "amount": amount,
            "amount_reporting": amount_reporting,
        }
        for unit, category, currency, _month, first_day, amount, amount_reporting in rows
    ]


def _cost_columns(values: dict[str, str]) -> tuple[str, str]:
    """Every concrete column of ``costs_cost``: ours as SQL, the rest as their defaults.

    Built from the model so that a column added to ``Cost`` later gets its default here.
    """
    columns, selects = [], []
    for f in Cost._meta.concrete_fields:
        columns.append(connection.ops.quote_name(f.column))
        if f.name in values:
            selects.append(values[f.name])
        elif f.has_default():
            default = f.get_default()
            if isinstance(default, (dict, list)):
                selects.append("'" + json.dumps(default).replace("'", "''") + "'::jsonb")
            elif default is None:
                selects.append("NULL")
            else:
                selects.append("'" + str(default).replace("'", "''") + "'")
        elif f.null:
            selects.append("NULL")
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            selects.append("%(now)s")
        else:
            selects.append("''")
    return ", ".join(columns), ", ".join(selects)


def insert_costs(*, batch: ImportBatch, submitter_id: int, custom_columns: list[str]) -> LoadResult:
    """Write the costs, their audit events and import links (one statement each)."""
    now = timezone.now()
    # Header names of x_ columns reach the SQL only as parameters.
    custom = "NULL::jsonb"
    if custom_columns:
        pairs = ", ".join(f"%(custom{i})s::text, x{i}" for i in range(len(custom_columns)))
        custom = f"NULLIF(jsonb_strip_nulls(jsonb_build_object({pairs})), '{{}}'::jsonb)"
    # Only what varies per cost: the billing account, provider, file and lines are on the
    # batch and the import link (each JSON key costs microseconds on 100,000 costs).
    effective = (
        "" if batch.amount_column == "EffectiveCost" else ", 'effective_cost', effective_cost::text"
    )
    metadata = f"""jsonb_strip_nulls(jsonb_build_object(
        'focus', jsonb_build_object(
            'sub_account_id', NULLIF(sub_account_id, ''),
            'service_name', service_name, 'service_category', service_category,
            'charge_category', charge_category, 'charge_class', NULLIF(charge_class, ''),
            'publisher', NULLIF(publisher_name, provider_name),
            'region_id', NULLIF(region_id, ''), 'lines', lines,
            'billed_cost', billed_cost::text, 'list_cost', list_cost::text{effective}),
        'custom', {custom}))"""
    values = {
        "id": "cost_id",
        "amount": "amount",
        "currency": "currency",
        "amount_reporting": "amount_reporting",
        "exchange_rate": "rate",
        "incurred_on": "day",
        "period_start": "day",
        "period_end": "day_end",
        "category": "category_id",
        "description": (
            "left(CASE WHEN description_min = description_max AND description_min <> '' "
            "THEN description_min ELSE service_name || ' ' || lower(charge_category) || "
            "CASE WHEN resource_id <> '' THEN ' of ' || coalesce(nullif(resource_name, ''), "
            "resource_id) ELSE '' END || ' (' || lines || ' lines)' END, 500)"
        ),
        "resource": "res_id",
        "entity": "entity_id",
        "organization_unit": "unit_id",
        "url": "''",
        "metadata": metadata,
        "tags": "tags",
        "source": "'import'",
        "kind": "CASE WHEN negative THEN 'credit' ELSE 'charge' END",
        "status": "CASE WHEN auto_approved THEN 'approved' ELSE 'pending' END",
        "submitted_by": "%(submitter)s",
        "submitted_at": "%(now)s",
        "approver": "approver_id",
        "decided_by": "NULL",
        "decided_at": "CASE WHEN auto_approved THEN %(now)s END",
        "decision_comment": (
            "CASE WHEN auto_approved THEN 'Approved automatically on import: at most ' "
            "|| trim_scale(policy_max)::text || ' ' || policy_currency || ' (policy of unit #' "
            "|| policy_unit_id || ')' ELSE '' END"
        ),
        "created_at": "%(now)s",
        "updated_at": "%(now)s",
    }
    columns, selects = _cost_columns(values)
    params = {
        "submitter": submitter_id,
        "now": now,
        "batch": batch.pk,
        **{f"custom{i}": name for i, name in enumerate(custom_columns)},
    }
    # PostgreSQL checks a deferred foreign key at commit by fetching each queued row again,
    # at about twice the cost of the same check at the end of its statement; these rows
    # reference only rows that exist already (or that an earlier statement here wrote), so
    # the checks run immediately, and Django's deferred default is back afterwards.
    _execute("SET CONSTRAINTS ALL IMMEDIATE")
    created = _execute(
        # Column names from the model, expressions from this module: no outside text.
        f"INSERT INTO costs_cost ({columns}) SELECT {selects} "  # noqa: S608  # nosec B608
        "FROM _focus_costs ORDER BY cost_id",
        params,
    )
    comment = f"Imported from {batch.file_name} (import #{batch.pk})"
    _execute(
        """
        INSERT INTO costs_costevent (cost_id, action, from_status, to_status, actor_id, at,
            comment, changes)
        SELECT cost_id, %(create)s, '', 'pending', %(submitter)s, %(now)s,
               %(comment)s || ', lines ' || first_line || CASE WHEN lines > 1
               THEN ' and ' || (lines - 1) || ' more' ELSE '' END, '{}'::jsonb
        FROM _focus_costs
        UNION ALL
        SELECT cost_id, %(approve)s, 'pending', 'approved', NULL, %(now)s,
               'Approved automatically: imported amount at most ' || trim_scale(policy_max)::text
               || ' ' || policy_currency || ' (import approval policy of unit #'
               || policy_unit_id || ')', '{}'::jsonb
        FROM _focus_costs WHERE auto_approved
        """,
        {
            **params,
            "create": CostEvent.Action.CREATE,
            "approve": CostEvent.Action.APPROVE,
            "comment": comment,
        },
    )
    _execute(
        """
        INSERT INTO costs_importedcost (cost_id, batch_id, role, lines, first_line)
        SELECT cost_id, %(batch)s, %(role)s, lines, first_line FROM _focus_costs
        """,
        {**params, "role": ImportedCost.Role.CHARGE},
    )
    _execute("SET CONSTRAINTS ALL DEFERRED")
    result = LoadResult(costs_created=created)
    result.imported_rows, result.skipped_rows = row_counts()
    (summary,) = _fetch(
        """
        SELECT count(*) FILTER (WHERE auto_approved),
               coalesce(sum(lines) FILTER (WHERE NOT known_resource AND rule_id IS NULL), 0),
               coalesce(sum(amount_reporting), 0),
               bool_or(approver_id IS NULL AND NOT auto_approved)
        FROM _focus_costs
        """
    )
    result.costs_auto_approved, result.unmapped_rows, result.total_reporting, finance = summary
    result.finance_routed = bool(finance)
    result.totals = {
        cur: str(total)
        for cur, total in _fetch(
            "SELECT currency, sum(amount) FROM _focus_costs GROUP BY 1 ORDER BY 1"
        )
    }
    result.approver_ids = {
        pk
        for (pk,) in _fetch(
            "SELECT DISTINCT approver_id FROM _focus_costs "
            "WHERE approver_id IS NOT NULL AND NOT auto_approved"
        )
    }
    if result.unmapped_rows:
        result.warnings.append(
            {
                "code": "unmapped",
                "message": f"{result.unmapped_rows} rows matched no mapping rule and no known "
                "resource; they were placed in the default unit.",
                "groups": [
                    {"sub_account_id": sub, "service_name": svc, "lines": n}
                    for sub, svc, n in _fetch(
                        """
                        SELECT sub_account_id, service_name, sum(lines)::int FROM _focus_costs
                        WHERE NOT known_resource AND rule_id IS NULL
                        GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 20
                        """
                    )
                ],
            }
        )
    return result
