"""Set-based SQL that turns the validated FOCUS rows into costs.

Rows are summed into one cost per *charge group*: billing account, sub-account, provider,
publisher, service, charge category, resource, region, currency, charge period (days), tags
and sign. The amount of a group is rounded once (half-even, to the currency's minor unit);
the file's totals per account, service and day are therefore kept exactly.

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
from .focus import FocusFileError, file_error
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
        SELECT billing_account_id, max(billing_account_name), billing_start, billing_end,
               max(provider_name), min(line)
        FROM _focus_rows GROUP BY billing_account_id, billing_start, billing_end
        ORDER BY min(line) LIMIT 6
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
        FROM (SELECT DISTINCT currency, charge_start::date AS day FROM _focus_rows) d
        """,
        {"reporting": reporting_currency()},
    )


def rate_errors(limit: int) -> tuple[list[dict[str, Any]], int]:
    rows = _fetch(
        """
        SELECT r.line, r.currency, r.charge_start::date, count(*) OVER ()
        FROM _focus_rows r JOIN _focus_rates x
          ON x.currency = r.currency AND x.day = r.charge_start::date
        WHERE x.rate IS NULL ORDER BY r.line LIMIT %s
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
    return errors, rows[0][3]


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


def group_rows() -> None:
    """``_focus_groups``: the rows summed per charge group (rows of amount zero are left out)."""
    _execute("SET LOCAL work_mem = '256MB'")
    _execute(
        """
        CREATE TEMP TABLE _focus_groups ON COMMIT DROP AS
        SELECT min(line) AS first_line, count(*) AS lines,
            billing_account_id, sub_account_id, provider_name, publisher_name, service_name,
            service_category, charge_category, resource_id, region_id, currency,
            charge_start::date AS day,
            GREATEST(charge_start::date, (charge_end - interval '1 microsecond')::date) AS day_end,
            tags_text, amount < 0 AS negative,
            sum(amount) AS amount_exact, sum(billed_cost) AS billed_cost,
            sum(list_cost) AS list_cost, sum(effective_cost) AS effective_cost,
            max(billing_account_name) AS billing_account_name,
            max(sub_account_name) AS sub_account_name,
            max(resource_name) AS resource_name, max(resource_type) AS resource_type,
            max(charge_class) AS charge_class,
            min(description) AS description_min, max(description) AS description_max,
            min(custom::text) AS custom_min, max(custom::text) AS custom_max
        FROM _focus_rows WHERE amount <> 0
        GROUP BY billing_account_id, sub_account_id, provider_name, publisher_name, service_name,
            service_category, charge_category, resource_id, region_id, currency, day, day_end,
            tags_text, negative
        """
    )


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
    """``_focus_costs``: each group with its rule, resource, unit, entity, category and amounts.

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
    _execute(
        f"""
        CREATE TEMP TABLE _focus_costs ON COMMIT DROP AS
        SELECT g.*, {PROVIDER_SQL} AS provider_code,
            coalesce(t.tags, '{{}}'::jsonb) AS tags,
            pg_temp.round_half_even(g.amount_exact, (%(digits)s::jsonb ->> g.currency)::int)
                AS amount,
            x.rate,
            m.id AS rule_id, m.organization_unit_id AS rule_unit_id, m.entity_id AS rule_entity_id,
            m.entity_unit_id AS rule_entity_unit_id, m.category_id AS rule_category_id,
            NULL::bigint AS res_id, NULL::bigint AS res_unit_id, NULL::bigint AS res_entity_id,
            NULL::bigint AS res_owner_id, false AS known_resource
        FROM _focus_groups g
        LEFT JOIN _focus_tags t ON t.tags_text = g.tags_text
        JOIN _focus_rates x ON x.currency = g.currency AND x.day = g.day
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
    _attach_resources()
    _execute(
        """
        UPDATE _focus_costs SET known_resource = true WHERE res_id IS NOT NULL
        """
    )
    missing = _fetch(
        """
        SELECT first_line, sub_account_id, service_name, count(*) OVER ()
        FROM _focus_costs
        WHERE rule_unit_id IS NULL AND rule_entity_unit_id IS NULL AND res_unit_id IS NULL
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
    created = _execute(
        """
        INSERT INTO orgunits_resource (provider, provider_resource_id, account, region, service,
            name, organization_unit_id, entity_id, tags, created_at, updated_at)
        SELECT DISTINCT ON (provider_code, resource_id)
            provider_code, resource_id, left(coalesce(nullif(sub_account_id, ''),
            billing_account_id), 128), region_id, service_name,
            left(coalesce(nullif(resource_name, ''), resource_id), 255),
            coalesce(rule_unit_id, rule_entity_unit_id, %(default_unit)s), rule_entity_id, tags,
            now(), now()
        FROM _focus_costs
        WHERE resource_id <> '' AND res_id IS NULL
        ORDER BY provider_code, resource_id, first_line
        ON CONFLICT (provider, provider_resource_id) DO NOTHING
        """,
        {"default_unit": default_unit_id},
    )
    batch._resources_created = created
    if created:
        _attach_resources()


def _attach_resources() -> None:
    _execute(
        """
        UPDATE _focus_costs c
        SET res_id = r.id, res_unit_id = r.organization_unit_id, res_entity_id = r.entity_id,
            res_owner_id = r.owner_id
        FROM orgunits_resource r
        WHERE c.res_id IS NULL AND c.resource_id <> ''
          AND r.provider = c.provider_code AND r.provider_resource_id = c.resource_id
        """
    )


def finish_mapping(*, submitter_id: int, default_unit_id: int | None) -> None:
    """Fill unit, entity, category, approver and the auto-approval verdict of each group."""
    _unit_table(submitter_id=submitter_id)
    slugs = _category_ids()
    service_map = {
        name: slugs[slug] for name, slug in SERVICE_CATEGORY_SLUGS.items() if slug in slugs
    }
    _execute(
        """
        ALTER TABLE _focus_costs ADD COLUMN cost_id bigint, ADD COLUMN unit_id bigint,
            ADD COLUMN entity_id bigint, ADD COLUMN category_id bigint,
            ADD COLUMN approver_id bigint, ADD COLUMN amount_reporting numeric,
            ADD COLUMN auto_approved boolean NOT NULL DEFAULT false,
            ADD COLUMN policy_unit_id bigint, ADD COLUMN policy_max numeric,
            ADD COLUMN policy_currency text
        """
    )
    _execute(
        f"""
        UPDATE _focus_costs c SET
            cost_id = nextval({COST_ID_SEQUENCE}),
            unit_id = coalesce(c.rule_unit_id, c.rule_entity_unit_id, c.res_unit_id,
                               %(default_unit)s),
            entity_id = coalesce(c.rule_entity_id, c.res_entity_id),
            category_id = coalesce(c.rule_category_id,
                (%(service_map)s::jsonb ->> lower(c.service_category))::bigint, %(other)s),
            amount_reporting = pg_temp.round_half_even(c.amount * c.rate, %(reporting_digits)s)
        """,  # noqa: S608  # nosec B608 (constants of this module only)
        {
            "default_unit": default_unit_id,
            "service_map": json.dumps(service_map),
            "other": slugs["other"],
            "reporting_digits": currencies()[reporting_currency()],
        },
    )
    _execute(
        """
        UPDATE _focus_costs c SET
            approver_id = CASE
                WHEN ro.id IS NOT NULL AND ro.id <> %(submitter)s AND ro.is_active THEN ro.id
                WHEN eo.id IS NOT NULL AND eo.id <> %(submitter)s AND eo.is_active THEN eo.id
                ELSE u.approver_id END,
            policy_unit_id = u.policy_unit_id, policy_max = u.policy_max,
            policy_currency = u.policy_currency
        FROM _focus_costs c2
        JOIN _focus_units u ON u.unit_id = c2.unit_id
        LEFT JOIN auth_user ro ON ro.id = c2.res_owner_id
        LEFT JOIN orgunits_entity e ON e.id = coalesce(c2.entity_id, c2.res_entity_id)
        LEFT JOIN auth_user eo ON eo.id = e.owner_id
        WHERE c2.cost_id = c.cost_id
        """,
        {"submitter": submitter_id},
    )
    _execute(
        """
        UPDATE _focus_costs c SET auto_approved = true
        WHERE c.policy_max IS NOT NULL AND (
            CASE
                WHEN c.policy_currency = c.currency THEN c.amount <= c.policy_max
                WHEN c.policy_currency = %(reporting)s THEN c.amount_reporting <= c.policy_max
                ELSE c.amount_reporting <= c.policy_max * (
                    SELECT x.rate FROM costs_exchangerate x
                    WHERE x.currency = c.policy_currency AND x.date <= c.day
                    ORDER BY x.date DESC LIMIT 1)
            END)
        """,
        {"reporting": reporting_currency()},
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


def insert_costs(*, batch: ImportBatch, submitter_id: int) -> LoadResult:
    """Write the costs, their audit events and import links (one statement each)."""
    now = timezone.now()
    metadata = f"""jsonb_strip_nulls(jsonb_build_object(
        'focus', jsonb_build_object(
            'import', {int(batch.pk)}, 'lines', lines, 'first_line', first_line,
            'billing_account_id', billing_account_id,
            'billing_account_name', NULLIF(billing_account_name, ''),
            'sub_account_id', NULLIF(sub_account_id, ''),
            'sub_account_name', NULLIF(sub_account_name, ''),
            'provider', provider_name, 'publisher', publisher_name,
            'service_name', service_name, 'service_category', service_category,
            'charge_category', charge_category, 'charge_class', NULLIF(charge_class, ''),
            'region_id', NULLIF(region_id, ''), 'resource_type', NULLIF(resource_type, ''),
            'billed_cost', billed_cost::text, 'list_cost', list_cost::text,
            'effective_cost', effective_cost::text),
        'custom', CASE WHEN custom_min = custom_max AND custom_min <> '{{}}'
                       THEN custom_min::jsonb END))"""
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
    params = {"submitter": submitter_id, "now": now, "batch": batch.pk}
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
    result = LoadResult(costs_created=created)
    (counts,) = _fetch(
        """
        SELECT count(*) FILTER (WHERE amount <> 0), count(*) FILTER (WHERE amount = 0)
        FROM _focus_rows
        """
    )
    result.imported_rows, result.skipped_rows = counts
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
