"""Reads of the recommendations app, and who sees and manages which recommendation.

Finance and auditors see every recommendation. Anyone else sees those of the units within
the subtrees they belong to or own (``orgunits.selectors``); an organisation-wide one (no
unit) is for finance and auditors only. Finance dismisses any; the owner of the unit or of
one of its ancestors dismisses that unit's (auditors none).
"""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When

from costtrack.core.exceptions import NotFound
from costtrack.core.roles import is_finance, is_read_only, sees_everything
from orgunits.selectors import subtree_q, user_root_ranges

from .models import Kind, Recommendation, RecommendationEvent, Status

KIND_ORDER = Case(
    *[When(kind=k, then=Value(i)) for i, k in enumerate(Kind.values)],
    output_field=IntegerField(),
)


def recommendation_list(
    *, user, kind: str | None = None, status: str | None = None
) -> QuerySet[Recommendation]:
    """The recommendations ``user`` sees, by kind and the largest amount first, with their
    unit loaded; ``kind`` and ``status`` narrow them (``status`` defaults to all)."""
    qs = Recommendation.objects.select_related("organization_unit")
    if not sees_everything(user):
        qs = qs.filter(subtree_q(user_root_ranges(user), "organization_unit"))
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return qs.annotate(kind_order=KIND_ORDER).order_by("kind_order", "-amount", "id")


def recommendation_get(*, user, recommendation_id) -> Recommendation:
    """One recommendation ``user`` sees; ``NotFound`` otherwise (another unit's included)."""
    try:
        return recommendation_list(user=user).get(pk=int(recommendation_id))
    except (Recommendation.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such recommendation.") from None


def _owned_ranges(user) -> list[tuple[int, int, int]]:
    cached = getattr(user, "_costtrack_owned_ranges", None)
    if cached is None:
        from orgunits.models import OrganizationUnit

        cached = list(
            OrganizationUnit.objects.filter(owner=user).values_list("tree_id", "lft", "rght")
        )
        user._costtrack_owned_ranges = cached
    return cached


def recommendation_may_manage(*, user, recommendation: Recommendation) -> bool:
    """Whether ``user`` may dismiss it: finance, or the owner of its unit or an ancestor."""
    if user is None or not user.is_authenticated or is_read_only(user):
        return False
    if is_finance(user):
        return True
    unit = recommendation.organization_unit
    if unit is None:
        return False
    return any(
        t == unit.tree_id and lft <= unit.lft and unit.rght <= rght
        for t, lft, rght in _owned_ranges(user)
    )


def recommendation_events(*, recommendation: Recommendation) -> QuerySet[RecommendationEvent]:
    return recommendation.events.select_related("actor").order_by("created_at", "id")


def recommendation_counts(*, user) -> dict[str, int]:
    """Open recommendations per kind that ``user`` sees (one grouped query)."""
    from django.db.models import Count

    rows = (
        recommendation_list(user=user, status=Status.OPEN)
        .order_by()
        .values("kind")
        .annotate(n=Count("id"))
    )
    counts = dict.fromkeys(Kind.values, 0)
    counts.update({r["kind"]: r["n"] for r in rows})
    return counts
