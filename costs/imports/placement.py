"""Re-running the placement of an import's unmapped costs with the current mapping rules.

Rows no rule or known resource placed went to the default unit on import (their links are
``unmapped``). Once finance has added a rule, ``import_rerun_placement`` applies the active
rules to those costs, without the file: the first matching rule (priority, then id) gives
the unit, entity and category, exactly as on import; a pending cost is routed to its new
unit's approver. The spend summary moves the costs in one set-based step, each moved cost
gets an ``edit`` event, and the batch's and scopes' unmapped counts are brought up to date.
Costs of a closed or closing period are refused (the period guard), nothing is written.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from costtrack.core.exceptions import PermissionDenied
from costtrack.core.roles import is_finance, refuse_read_only

from ..models import Cost, CostEvent, ImportBatch, ImportedCost, ImportScope
from ..summary.maintain import summary_moving
from . import loader
from .checks import guard_days
from .sql import execute as _execute
from .sql import fetch as _fetch

LIVE = (Cost.Status.PENDING, Cost.Status.APPROVED, Cost.Status.REJECTED)


@dataclass
class PlacementResult:
    placed_costs: int = 0
    placed_rows: int = 0
    still_unmapped_rows: int = 0


@transaction.atomic
def import_rerun_placement(*, batch: ImportBatch, acting_user) -> PlacementResult:
    """Place the unmapped costs of ``batch`` by the current mapping rules (finance only)."""
    refuse_read_only(acting_user)
    if not is_finance(acting_user):
        raise PermissionDenied("Only finance staff may re-run the placement of an import.")
    ImportBatch.objects.select_for_update().filter(pk=batch.pk).first()
    _execute("DROP TABLE IF EXISTS _place")
    _execute(
        """
        CREATE TEMP TABLE _place ON COMMIT DROP AS
        SELECT c.id AS cost_id, c.status, c.incurred_on, l.lines, l.scope_id,
            c.organization_unit_id AS old_unit_id, c.entity_id AS old_entity_id,
            c.category_id AS old_category_id, m.id AS rule_id,
            coalesce(m.organization_unit_id, m.entity_unit_id, c.organization_unit_id)
                AS unit_id,
            coalesce(m.entity_id, c.entity_id) AS entity_id,
            coalesce(m.category_id, c.category_id) AS category_id
        FROM costs_importedcost l
        JOIN costs_cost c ON c.id = l.cost_id
        LEFT JOIN costs_importscope s ON s.id = l.scope_id
        JOIN LATERAL (
            SELECT r.id, r.organization_unit_id, r.entity_id, r.category_id,
                e.organization_unit_id AS entity_unit_id
            FROM costs_mappingrule r LEFT JOIN orgunits_entity e ON e.id = r.entity_id
            WHERE r.active
              AND (r.match_provider = ''
                   OR lower(r.match_provider) = lower(coalesce(s.provider, '')))
              AND (r.match_billing_account = ''
                   OR r.match_billing_account = coalesce(s.billing_account_id, ''))
              AND (r.match_sub_account = ''
                   OR r.match_sub_account = coalesce(c.metadata #>> '{focus,sub_account_id}', ''))
              AND (r.match_service = ''
                   OR lower(r.match_service) = lower(c.metadata #>> '{focus,service_name}'))
              AND (r.match_tag_key = '' OR (c.tags ? r.match_tag_key
                   AND (r.match_tag_value = '' OR c.tags ->> r.match_tag_key = r.match_tag_value)))
            ORDER BY r.priority, r.id LIMIT 1
        ) m ON true
        WHERE l.batch_id = %s AND l.role = %s AND l.unmapped AND c.status = ANY(%s)
        """,
        [batch.pk, ImportedCost.Role.CHARGE, list(LIVE)],
    )
    guard_days([day for (day,) in _fetch("SELECT DISTINCT incurred_on FROM _place")])
    result = PlacementResult()
    (counts,) = _fetch("SELECT count(*), coalesce(sum(lines), 0) FROM _place")
    result.placed_costs, result.placed_rows = int(counts[0]), int(counts[1])
    if result.placed_costs:
        now = timezone.now()
        _execute("DROP TABLE IF EXISTS _focus_units, _focus_auditors")
        loader._unit_table(submitter_id=batch.created_by_id)
        with summary_moving(where="c.id IN (SELECT cost_id FROM _place)"):
            _execute(
                """
                UPDATE costs_cost c SET organization_unit_id = p.unit_id,
                    entity_id = p.entity_id, category_id = p.category_id, updated_at = %s,
                    approver_id = CASE WHEN c.status = 'pending' THEN u.approver_id
                                       ELSE c.approver_id END
                FROM _place p LEFT JOIN _focus_units u ON u.unit_id = p.unit_id
                WHERE c.id = p.cost_id
                """,
                [now],
            )
        _execute(
            "UPDATE costs_importedcost SET unmapped = false "
            "WHERE cost_id IN (SELECT cost_id FROM _place)"
        )
        _execute(
            """
            INSERT INTO costs_costevent (cost_id, action, from_status, to_status, actor_id, at,
                comment, changes)
            SELECT cost_id, %s, status, status, %s, %s,
                'Placed by mapping rule #' || rule_id || ' on a re-run of import #' || %s,
                jsonb_build_object('rule', rule_id,
                    'organization_unit', jsonb_build_array(old_unit_id, unit_id),
                    'entity', jsonb_build_array(old_entity_id, entity_id),
                    'category', jsonb_build_array(old_category_id, category_id))
            FROM _place
            """,
            [CostEvent.Action.EDIT, acting_user.pk, now, batch.pk],
        )
    _refresh_unmapped_counts(batch)
    result.still_unmapped_rows = ImportBatch.objects.get(pk=batch.pk).unmapped_rows
    return result


def _refresh_unmapped_counts(batch: ImportBatch) -> None:
    live = ImportedCost.objects.filter(
        batch=batch, role=ImportedCost.Role.CHARGE, unmapped=True, cost__status__in=LIVE
    )
    per_scope = dict(live.values("scope_id").annotate(n=Sum("lines")).values_list("scope_id", "n"))
    changed = []
    for scope in ImportScope.objects.filter(batch=batch, status=ImportScope.Status.IMPORTED):
        count = int(per_scope.get(scope.pk) or 0)
        if scope.unmapped_rows != count:
            scope.unmapped_rows = count
            changed.append(scope)
    ImportScope.objects.bulk_update(changed, ["unmapped_rows"])
    ImportBatch.objects.filter(pk=batch.pk).update(
        unmapped_rows=int(sum(v or 0 for v in per_scope.values()))
    )
