"""Writes of the recommendations app: computing them, dismissing one, the owners' digest."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from costtrack.core.db import advisory_xact_lock
from costtrack.core.exceptions import Conflict, NotFound, PermissionDenied, ValidationError
from costtrack.core.money import reporting_currency, round_money
from costtrack.core.roles import FINANCE, refuse_read_only

from . import compute
from .models import Kind, Recommendation, RecommendationEvent, Status
from .selectors import recommendation_may_manage

logger = logging.getLogger(__name__)
User = get_user_model()

DIGEST_LINES = 20
UPDATE_FIELDS = [
    "title",
    "organization_unit_id",
    "amount",
    "evidence",
    "link",
    "status",
    "computed_at",
    "opened_at",
    "resolved_at",
    "notified_at",
]


def reopen_growth() -> Decimal:
    return Decimal(getattr(settings, "COSTTRACK_RECOMMENDATION_REOPEN_GROWTH", Decimal("0.25")))


@dataclass
class ComputeResult:
    day: str
    found: dict[str, int]
    created: int
    reopened: int
    resolved: int
    notified_users: int

    def as_dict(self) -> dict:
        return asdict(self)


def _grew_past_threshold(amount: Decimal, dismissed: Decimal | None) -> bool:
    if dismissed is None:
        return False
    return amount > dismissed * (1 + reopen_growth())


@transaction.atomic
def recommendations_compute(*, now: datetime | None = None, notify: bool = True) -> ComputeResult:
    """Run the five rules and store what they find, in one transaction.

    Each candidate updates the row of its key: a new key is written ``open``; an ``open``
    row gets the new amount and evidence; a ``resolved`` row is opened again; a
    ``dismissed`` row keeps its status unless its amount grew past the dismissed amount by
    ``COSTTRACK_RECOMMENDATION_REOPEN_GROWTH`` (then it is reopened, with an audit event).
    Open rows no rule found any more become ``resolved``. Concurrent computations queue on
    one lock. With ``notify`` the owners concerned get one digest each of the rows opened
    or reopened (``recommendations_digest``). ``now`` (default: now) fixes the day.
    """
    now = now or timezone.now()
    advisory_xact_lock("recommendations.compute")
    day = compute.as_of_day(now)
    candidates: dict[str, compute.Candidate] = {}
    found: dict[str, int] = dict.fromkeys(Kind.values, 0)
    for rule in compute.RULES:
        for candidate in rule(now=now, day=day):
            candidates[candidate.key] = candidate
            found[candidate.kind] += 1
    currency = reporting_currency()
    existing = {
        row.key: row
        for row in Recommendation.objects.only(
            "id", "key", "status", "dismissed_amount", "opened_at", "notified_at"
        )
    }
    new_rows, changed, reopened_events = [], [], []
    for key, cand in candidates.items():
        row = existing.get(key)
        if row is None:
            new_rows.append(
                Recommendation(
                    kind=cand.kind,
                    key=key,
                    title=cand.title[:300],
                    organization_unit_id=cand.unit_id,
                    amount=cand.amount,
                    currency=currency,
                    evidence=cand.evidence,
                    link=cand.link[:500],
                    status=Status.OPEN,
                    computed_at=now,
                    opened_at=now,
                )
            )
            continue
        row.title, row.organization_unit_id = cand.title[:300], cand.unit_id
        row.amount, row.evidence, row.link = cand.amount, cand.evidence, cand.link[:500]
        row.computed_at, row.resolved_at = now, None
        if row.status == Status.RESOLVED or (
            row.status == Status.DISMISSED
            and _grew_past_threshold(cand.amount, row.dismissed_amount)
        ):
            if row.status == Status.DISMISSED:
                reopened_events.append(
                    RecommendationEvent(
                        recommendation_id=row.pk,
                        action=RecommendationEvent.Action.REOPENED,
                        actor=None,
                        reason=f"The amount grew from "
                        f"{round_money(row.dismissed_amount, currency)} to {cand.amount}.",
                        amount=cand.amount,
                        # the audit trail tells when it happened, whatever day was computed
                        created_at=timezone.now(),
                    )
                )
            row.status, row.opened_at, row.notified_at = Status.OPEN, now, None
        changed.append(row)
    Recommendation.objects.bulk_create(new_rows, batch_size=2000)
    _update_rows(changed)
    RecommendationEvent.objects.bulk_create(reopened_events)
    gone = [
        row.pk
        for key, row in existing.items()
        if key not in candidates and row.status == Status.OPEN
    ]
    resolved = 0
    for start in range(0, len(gone), 5000):
        resolved += Recommendation.objects.filter(pk__in=gone[start : start + 5000]).update(
            status=Status.RESOLVED, resolved_at=now, computed_at=now
        )
    notified = recommendations_digest(now=now) if notify else 0
    return ComputeResult(
        day=day.isoformat(),
        found=found,
        created=len(new_rows),
        reopened=sum(1 for r in changed if r.opened_at == now),
        resolved=resolved,
        notified_users=notified,
    )


def _update_rows(rows: list[Recommendation]) -> None:
    """Write the changed rows: one ``UPDATE … FROM unnest(…)`` on PostgreSQL (thousands of
    rows in one statement), ``bulk_update`` elsewhere."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        fields = [f.removesuffix("_id") if f.endswith("_id") else f for f in UPDATE_FIELDS]
        Recommendation.objects.bulk_update(rows, fields, batch_size=500)
        return
    table = connection.ops.quote_name(Recommendation._meta.db_table)
    columns = {
        "id": ("bigint[]", [r.pk for r in rows]),
        "title": ("text[]", [r.title for r in rows]),
        "organization_unit_id": ("bigint[]", [r.organization_unit_id for r in rows]),
        "amount": ("numeric[]", [r.amount for r in rows]),
        "evidence": ("jsonb[]", [_json(r.evidence) for r in rows]),
        "link": ("text[]", [r.link for r in rows]),
        "status": ("text[]", [r.status for r in rows]),
        "computed_at": ("timestamptz[]", [r.computed_at for r in rows]),
        "opened_at": ("timestamptz[]", [r.opened_at for r in rows]),
        "resolved_at": ("timestamptz[]", [r.resolved_at for r in rows]),
        "notified_at": ("timestamptz[]", [r.notified_at for r in rows]),
    }
    names = list(columns)
    unnest = ", ".join(f"%s::{columns[n][0]}" for n in names)
    assignments = ", ".join(f"{n} = v.{n}" for n in names if n != "id")
    sql = (
        f"UPDATE {table} AS r SET {assignments} "  # noqa: S608  # nosec B608 - names above
        f"FROM unnest({unnest}) AS v({', '.join(names)}) WHERE r.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [columns[n][1] for n in names])


def _json(value) -> str:
    import json

    return json.dumps(value, default=str)


def _recipients_by_unit(unit_ids: set[int]) -> tuple[dict[int, int | None], list]:
    """Each unit's owner, or its nearest ancestor's (``None``: none up to the root), from one
    query of the owned units of those trees; and the active finance users."""
    from orgunits.models import OrganizationUnit

    units = list(
        OrganizationUnit.objects.filter(pk__in=unit_ids).values_list("id", "tree_id", "lft", "rght")
    )
    owned = list(
        OrganizationUnit.objects.filter(
            tree_id__in={u[1] for u in units}, owner__isnull=False, owner__is_active=True
        ).values_list("tree_id", "lft", "rght", "owner_id")
    )
    owners: dict[int, int | None] = {}
    for pk, tree_id, lft, rght in units:
        holders = [o for o in owned if o[0] == tree_id and o[1] <= lft and rght <= o[2]]
        # the nearest: the ancestor (or the unit) with the largest left value
        owners[pk] = max(holders, key=lambda o: o[1])[3] if holders else None
    finance = list(User.objects.filter(groups__name=FINANCE, is_active=True).distinct())
    return owners, finance


@transaction.atomic
def recommendations_digest(*, now: datetime | None = None) -> int:
    """Tell the owners concerned, in ONE notification each, of the recommendations opened or
    reopened since they were last told; mark those told. A recommendation goes to the owner
    of its unit (or of the nearest ancestor with one); one without any owner up the tree, or
    organisation-wide, to the finance users.
    Returns how many users were notified."""
    from notifications.kinds import Kind as NotificationKind
    from notifications.services import notify

    now = now or timezone.now()
    pending = list(
        Recommendation.objects.select_for_update()
        .filter(status=Status.OPEN, notified_at__isnull=True)
        .order_by("-amount", "id")
        .values("id", "kind", "title", "amount", "currency", "link", "organization_unit_id")
    )
    if not pending:
        return 0
    owners, finance = _recipients_by_unit(
        {r["organization_unit_id"] for r in pending if r["organization_unit_id"]}
    )
    users = {u.pk: u for u in User.objects.filter(pk__in=set(owners.values()) - {None})}
    users |= {u.pk: u for u in finance}
    by_user: dict[int, list[dict]] = defaultdict(list)
    for rec in pending:
        owner = owners.get(rec["organization_unit_id"])
        targets = [owner] if owner in users and users[owner].is_active else [u.pk for u in finance]
        for user_id in targets:
            by_user[user_id].append(rec)
    labels = dict(Kind.choices)
    for user_id, recs in by_user.items():
        total = round_money(sum((r["amount"] for r in recs), Decimal(0)), recs[0]["currency"])
        lines = [
            f"- {labels[r['kind']]}: {r['title']} "
            f"({round_money(r['amount'], r['currency'])} {r['currency']})"
            + (f" {r['link']}" if r["link"] else "")
            for r in recs[:DIGEST_LINES]
        ]
        if len(recs) > DIGEST_LINES:
            lines.append(f"… and {len(recs) - DIGEST_LINES} more on /recommendations/.")
        notify(
            recipients=[users[user_id]],
            kind=NotificationKind.RECOMMENDATIONS,
            subject=f"{len(recs)} new recommendation{'s' if len(recs) != 1 else ''}: "
            f"{total} {recs[0]['currency']} at stake",
            body="\n".join(lines),
            link="/recommendations/",
            payload={"recommendations": [r["id"] for r in recs]},
        )
    Recommendation.objects.filter(pk__in=[r["id"] for r in pending]).update(notified_at=now)
    return len(by_user)


@transaction.atomic
def recommendation_dismiss(
    *, recommendation: Recommendation, reason: str, acting_user
) -> Recommendation:
    """Dismiss an open recommendation with a reason; writes the audit event (who, when, the
    reason, the amount). It stays dismissed through recomputations unless its amount grows
    past ``COSTTRACK_RECOMMENDATION_REOPEN_GROWTH`` over the dismissed amount.

    Raises ``ValidationError`` (field ``reason``) for an empty reason, ``PermissionDenied``
    unless ``acting_user`` is finance or may manage the recommendation's unit (auditors
    never), ``NotFound`` for a row gone meanwhile and ``Conflict`` (409) for one that is not
    open.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the recommendation is dismissed.", field="reason")
    refuse_read_only(acting_user)
    if not recommendation_may_manage(user=acting_user, recommendation=recommendation):
        raise PermissionDenied("Only finance or the unit's owner may dismiss this recommendation.")
    row = Recommendation.objects.select_for_update().filter(pk=recommendation.pk).first()
    if row is None:
        raise NotFound("No such recommendation.")
    if row.status != Status.OPEN:
        raise Conflict(f"Only an open recommendation can be dismissed; this one is {row.status}.")
    now = timezone.now()
    row.status = Status.DISMISSED
    row.dismissed_amount = row.amount
    row.full_clean()
    row.save(update_fields=["status", "dismissed_amount"])
    RecommendationEvent.objects.create(
        recommendation=row,
        action=RecommendationEvent.Action.DISMISSED,
        actor=acting_user,
        reason=reason[:2000],
        amount=row.amount,
        created_at=now,
    )
    return row


def recommendations_request(*, acting_user) -> int:
    """Queue a recomputation on the workers (finance only); returns the job id."""
    from costtrack.core.roles import is_finance

    from .triggers import recommendations_enqueue

    refuse_read_only(acting_user)
    if not is_finance(acting_user):
        raise PermissionDenied("Only finance staff may recompute recommendations.")
    with transaction.atomic():
        return recommendations_enqueue()
