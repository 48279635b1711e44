"""Set-based SQL that turns the charge groups of a FOCUS file into costs.

The groups (``costs.imports.grouping``) are placed by mapping rules or known resources,
routed to their approvers and checked against auto-approval policies. Every statement
works on temporary tables (``_focus_*``, dropped at commit) and writes the real tables with
``INSERT ... SELECT``: resources (``ON CONFLICT`` on provider and id), costs, their audit
events and their import links — one statement each, whatever the file size.
"""

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from costtrack.core.money import currencies, reporting_currency
from costtrack.core.roles import AUDITOR
from orgunits.models import OrganizationUnit

from ..models import Cost, CostCategory, CostEvent, ImportApprovalPolicy, ImportBatch, ImportedCost
from ..summary.maintain import summary_add
from .focus import FocusFileError
from .grouping import ROUND_FUNCTION, ROUNDED_GROUPS, row_counts
from .rules import PROVIDER_SQL, SERVICE_CATEGORY_SLUGS
from .sql import execute as _execute
from .sql import fetch as _fetch

COST_ID_SEQUENCE = "pg_get_serial_sequence('costs_cost', 'id')"


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


def _unit_table(*, submitter_id: int) -> None:
    """``_focus_units``: per unit, its unit-chain approver and the auto-approval policy.

    Mirrors ``costs.approvers.resolve_approver`` for the unit part of the chain: the nearest
    owner up the tree who is active, no auditor and not the submitter (NULL: finance decides).
    """
    auditors = set(
        get_user_model().objects.filter(groups__name=AUDITOR).values_list("pk", flat=True)
    )
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
            if (
                approver is None
                and owner
                and owner != submitter_id
                and active
                and owner not in auditors
            ):
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
        "CREATE TEMP TABLE _focus_auditors ON COMMIT DROP AS SELECT unnest(%s::bigint[]) "
        "AS user_id",
        [sorted(auditors)],
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
    # Temporary tables have no statistics until analysed: without them the planner takes
    # every one for a few rows and looks up the rates, tags and scopes of 100,000 groups one
    # group at a time.
    _execute("ANALYZE _focus_groups, _focus_rates, _focus_tags, _focus_scope_map, _focus_rules")
    # Rules are matched per charge group, not per row: a handful of rules, far fewer groups.
    _execute(
        f"""
        CREATE TEMP TABLE _focus_mapped ON COMMIT DROP AS
        SELECT g.*, p.provider_code, sm.scope_id,
            coalesce(t.tags, '{{}}'::jsonb) AS tags,
            x.rate,
            m.id AS rule_id, m.organization_unit_id AS rule_unit_id, m.entity_id AS rule_entity_id,
            m.entity_unit_id AS rule_entity_unit_id, m.category_id AS rule_category_id,
            res.id IS NOT NULL AS known_resource, res.organization_unit_id AS known_unit_id
        FROM ({ROUNDED_GROUPS}) g
        CROSS JOIN LATERAL (SELECT {PROVIDER_SQL} AS provider_code) p
        JOIN _focus_scope_map sm ON sm.provider_name = g.provider_name
         AND sm.billing_account_id = g.billing_account_id
         AND sm.billing_start_text = g.billing_start_text
         AND sm.billing_end_text = g.billing_end_text
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
                    WHEN ro.id IS NOT NULL AND ro.id <> %(submitter)s AND ro.is_active
                         AND ro.id NOT IN (SELECT user_id FROM _focus_auditors) THEN ro.id
                    WHEN eo.id IS NOT NULL AND eo.id <> %(submitter)s AND eo.is_active
                         AND eo.id NOT IN (SELECT user_id FROM _focus_auditors) THEN eo.id
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
    """Charge totals per unit, category, currency, tags and month, for the budget checks
    (tags too: a budget may be narrowed to costs with certain tags)."""
    rows = _fetch(
        """
        SELECT unit_id, category_id, currency, tags, date_trunc('month', day)::date, min(day),
               sum(amount), sum(amount_reporting)
        FROM _focus_costs WHERE NOT negative
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 5, 4::text
        """
    )
    return [
        {
            "organization_unit_id": unit,
            "category_id": category,
            "currency": currency,
            "tags": json.loads(tags) if isinstance(tags, str) else (tags or {}),
            "incurred_on": first_day,
            "amount": amount,
            "amount_reporting": amount_reporting,
        }
        for unit, category, currency, tags, _month, first_day, amount, amount_reporting in rows
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
        INSERT INTO costs_importedcost (cost_id, batch_id, role, lines, first_line, scope_id,
            corrects_period_id, charged_on, unmapped)
        SELECT cost_id, %(batch)s, %(role)s, lines, first_line, scope_id, corrects_period_id,
            charged_on, NOT known_resource AND rule_id IS NULL
        FROM _focus_costs
        """,
        {**params, "role": ImportedCost.Role.CHARGE},
    )
    _execute("SET CONSTRAINTS ALL DEFERRED")
    summary_add(where="c.id IN (SELECT cost_id FROM _focus_costs)")
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
