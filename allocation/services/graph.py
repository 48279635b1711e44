"""Writes of the cost graph and usage, validated as the engine needs them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError

from costtrack.core.db import advisory_xact_lock
from costtrack.core.exceptions import Conflict, PermissionDenied, ValidationError
from costtrack.core.money import minor_digits, reporting_currency
from costtrack.core.roles import is_finance, refuse_read_only

from .. import engine
from ..models import (
    AllocationEdge,
    CostNode,
    UsageRecord,
)

GRAPH_LOCK = "allocation.graph"
NODE_FIELDS = {
    "name",
    "kind",
    "resource",
    "entity",
    "organization_unit",
    "description",
    "parent_product",
}
EDGE_FIELDS = {"strategy", "parameters", "overrides", "active_from", "active_to"}
USAGE_FIELDS = {"node", "metric", "date", "quantity", "dimension"}


def check_can_change(acting_user) -> None:
    """Only finance changes the cost graph and its usage; auditors never (403).

    ``acting_user=None`` is costtrack itself (the demo, the benchmarks, a period's close).
    """
    if acting_user is None:
        return
    refuse_read_only(acting_user)
    if not is_finance(acting_user):
        raise PermissionDenied("Only finance staff may change the cost graph and its usage.")


def _refuse(exc: engine.EngineError) -> ValidationError:
    return ValidationError(exc.message, field=exc.field)


# --- nodes -----------------------------------------------------------------------------


LINK_FIELDS = ("resource", "entity", "organization_unit")
LINK_LABELS = {"resource": "resource", "entity": "entity", "organization_unit": "unit"}


def _check_node_links(node: CostNode) -> None:
    """One link at most, and no other node on the same object: a cost counts at one node
    only, so a second node on its resource, entity or unit would split it silently. Called
    under ``GRAPH_LOCK`` so two writers cannot both pass."""
    links = [n for n in LINK_FIELDS if getattr(node, f"{n}_id")]
    if len(links) > 1:
        raise ValidationError(
            f"Link a node to one resource, entity or unit, not several ({', '.join(links)}).",
            field=links[1],
        )
    for name in links:
        other = (
            CostNode.objects.filter(**{f"{name}_id": getattr(node, f"{name}_id")})
            .exclude(pk=node.pk)
            .values_list("name", flat=True)
            .first()
        )
        if other is not None:
            raise ValidationError(
                f"The node '{other}' already links this {LINK_LABELS[name]}; a cost counts "
                "at one node only.",
                field=name,
            )


def _check_parent_product(node: CostNode) -> None:
    """The product tree of the P&L: a product's parent is another product, and following
    parents never comes back to the node. Called under ``GRAPH_LOCK`` (one query)."""
    if node.parent_product_id is None:
        return
    if node.kind != CostNode.Kind.PRODUCT:
        raise ValidationError(
            "Only a product rolls up into a parent product.", field="parent_product"
        )
    parents = dict(
        CostNode.objects.filter(kind=CostNode.Kind.PRODUCT).values_list("id", "parent_product_id")
    )
    if node.parent_product_id not in parents:
        raise ValidationError(
            "The parent product must be a node of kind product.", field="parent_product"
        )
    seen, current = set(), node.parent_product_id
    while current is not None and current not in seen:
        if current == node.pk:
            names = dict(CostNode.objects.filter(pk__in=seen | {current}).values_list("id", "name"))
            loop = " → ".join(sorted(names.values()))
            raise ValidationError(
                f"'{node.name}' cannot roll up into '{node.parent_product}': the products "
                f"would roll up into each other ({loop}).",
                field="parent_product",
            )
        seen.add(current)
        current = parents.get(current)


def product_parent_validate(*, node: CostNode) -> None:
    """Check ``node.parent_product`` (saved node or not) without writing, as
    ``node_create``/``node_update`` do; raises ``ValidationError`` on ``parent_product``."""
    _check_parent_product(node)


@transaction.atomic
def node_create(
    *,
    name: str,
    kind: str,
    resource=None,
    entity=None,
    organization_unit=None,
    description: str = "",
    parent_product: CostNode | None = None,
    acting_user=None,
) -> CostNode:
    """Create a node. Its direct cost will be the approved cost of the linked object.

    Raises ``ValidationError`` naming the field when the node links more than one object or
    an object another node already links, or when ``parent_product`` (the product a product
    rolls up into in the P&L) is not a product.
    """
    check_can_change(acting_user)
    advisory_xact_lock(GRAPH_LOCK)
    node = CostNode(
        name=name,
        kind=kind,
        resource=resource,
        entity=entity,
        organization_unit=organization_unit,
        description=description,
        parent_product=parent_product,
    )
    _check_node_links(node)
    _check_parent_product(node)
    node.full_clean()
    node.save()
    return node


@transaction.atomic
def node_update(*, node: CostNode, acting_user=None, **fields: Any) -> CostNode:
    unknown = set(fields) - NODE_FIELDS
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    check_can_change(acting_user)
    advisory_xact_lock(GRAPH_LOCK)
    for name, value in fields.items():
        setattr(node, name, value)
    _check_node_links(node)
    if node.kind != CostNode.Kind.PRODUCT and node.child_products.exists():
        raise ValidationError(
            "Other products roll up into this one: it stays a product until they move.",
            field="kind",
        )
    _check_parent_product(node)
    node.full_clean()
    node.save()
    return node


@transaction.atomic
def node_delete(*, node: CostNode, acting_user=None) -> None:
    """Delete a node with its edges and usage. A node that appears in an allocation run is
    kept (``Conflict``): past runs must stay explainable; remove its edges instead."""
    check_can_change(acting_user)
    advisory_xact_lock(GRAPH_LOCK)
    try:
        node.delete()
    except ProtectedError:
        raise Conflict(
            f"'{node}' appears in allocation runs and is kept so they stay explainable; "
            "delete its edges instead.",
            code="node_in_runs",
        ) from None


# --- edges -----------------------------------------------------------------------------


def _as_engine_edge(edge: AllocationEdge) -> engine.Edge:
    return engine.Edge(
        edge.parent_id, edge.child_id, edge.strategy, edge.parameters or {}, edge.overrides or {}
    )


def edge_validate(*, edge: AllocationEdge) -> None:
    """Check an edge (saved or not) against the graph without writing: parameters and
    overrides valid for the strategy, no cycle, and the parent's rules taken together.
    Normalises ``edge.parameters``/``edge.overrides``; raises ``ValidationError``.
    """
    _validate_edge(edge)


def _validate_edge(edge: AllocationEdge) -> None:
    digits = minor_digits(reporting_currency())
    if edge.parent_id and edge.parent_id == edge.child_id:
        raise ValidationError("A node cannot allocate to itself.", field="child")
    try:
        edge.parameters = engine.validate_parameters(
            edge.strategy, edge.parameters, minor_digits=digits
        )
        edge.overrides = engine.validate_overrides(edge.overrides, minor_digits=digits)
    except engine.EngineError as exc:
        raise _refuse(exc) from None
    others = list(
        AllocationEdge.objects.exclude(pk=edge.pk).values_list("parent_id", "child_id")
        if edge.pk
        else AllocationEdge.objects.values_list("parent_id", "child_id")
    )
    pairs = [*others, (edge.parent_id, edge.child_id)]
    cycle = engine.find_cycle({p for p, _ in pairs} | {c for _, c in pairs}, pairs)
    if cycle:
        names = dict(CostNode.objects.filter(pk__in=cycle).values_list("id", "name"))
        raise _refuse(engine.CycleError(cycle, names))
    siblings = list(AllocationEdge.objects.filter(parent_id=edge.parent_id).exclude(pk=edge.pk))
    names = dict(
        CostNode.objects.filter(
            pk__in=[edge.parent_id, edge.child_id, *(e.child_id for e in siblings)]
        ).values_list("id", "name")
    )

    def engine_edges(edges: list[AllocationEdge]) -> list[engine.Edge]:
        return sorted((_as_engine_edge(e) for e in edges), key=lambda e: e.child)

    try:
        # Fixed shares add up only among edges active on the same day; the rule the other
        # edges share holds whatever their dates, since a period can span them all.
        for group in _active_together(edge, siblings):
            engine.check_parent_rules(engine_edges(group), names, one_rule=False)
        engine.check_parent_rules(engine_edges([*siblings, edge]), names, fixed_shares=False)
    except engine.EngineError as exc:
        raise _refuse(exc) from None


def _active_on(edge: AllocationEdge, day: date | None) -> bool:
    """Whether ``edge`` is active on ``day`` (``None``: before every date)."""
    if day is None:
        return edge.active_from is None
    return (edge.active_from is None or edge.active_from <= day) and (
        edge.active_to is None or day <= edge.active_to
    )


def _active_together(edge: AllocationEdge, siblings: list[AllocationEdge]):
    """The sets of a parent's edges, ``edge`` among them, that are active on one same day.

    Every such set is contained in the set active on the latest ``active_from`` of its
    members, so the start days (and "before every date") are the only days to look at.
    """
    edges = [*siblings, edge]
    days = sorted({e.active_from for e in edges if e.active_from})
    seen = set()
    for day in [None, *days]:
        if not _active_on(edge, day):
            continue
        group = [e for e in edges if _active_on(e, day)]
        key = frozenset(id(e) for e in group)
        if key not in seen:
            seen.add(key)
            yield group


@transaction.atomic
def edge_create(
    *,
    parent: CostNode,
    child: CostNode,
    strategy: str = engine.EQUAL,
    parameters: dict | None = None,
    overrides: dict | None = None,
    active_from: date | None = None,
    active_to: date | None = None,
    acting_user=None,
) -> AllocationEdge:
    """Add ``parent → child``. Raises ``ValidationError`` (400) naming the nodes of a cycle,
    the children whose fixed shares pass 100 %, or the invalid parameter.
    """
    check_can_change(acting_user)
    advisory_xact_lock(GRAPH_LOCK)
    edge = AllocationEdge(
        parent=parent,
        child=child,
        strategy=strategy,
        parameters=parameters or {},
        overrides=overrides or {},
        active_from=active_from,
        active_to=active_to,
    )
    if AllocationEdge.objects.filter(parent=parent, child=child).exists():
        raise ValidationError(f"'{parent}' already allocates to '{child}'.", field="child")
    _validate_edge(edge)
    edge.full_clean()
    edge.save()
    return edge


@transaction.atomic
def edge_update(*, edge: AllocationEdge, acting_user=None, **fields: Any) -> AllocationEdge:
    """Change an edge's rule or active dates (its parent and child are fixed)."""
    unknown = set(fields) - EDGE_FIELDS
    if unknown:
        raise ValidationError(
            f"Field(s) {', '.join(sorted(unknown))} cannot be changed; "
            "delete the edge and create another."
        )
    check_can_change(acting_user)
    advisory_xact_lock(GRAPH_LOCK)
    for name, value in fields.items():
        if name in ("parameters", "overrides") and value is None:
            value = {}
        setattr(edge, name, value)
    _validate_edge(edge)
    edge.full_clean()
    edge.save()
    return edge


@transaction.atomic
def edge_delete(*, edge: AllocationEdge, acting_user=None) -> None:
    check_can_change(acting_user)
    advisory_xact_lock(GRAPH_LOCK)
    edge.delete()


# --- usage -----------------------------------------------------------------------------


@transaction.atomic
def usage_record_create(
    *,
    node: CostNode,
    metric: str,
    date: date,
    quantity: Decimal,
    dimension: str = "",
    acting_user=None,
) -> UsageRecord:
    check_can_change(acting_user)
    record = UsageRecord(
        node=node, metric=metric, date=date, quantity=quantity, dimension=dimension
    )
    record.full_clean()
    record.save()
    return record


@transaction.atomic
def usage_record_update(*, record: UsageRecord, acting_user=None, **fields: Any) -> UsageRecord:
    """Correct a usage record (node, metric, date, quantity, dimension); validated like a
    new one. Raises ``ValidationError`` for another field or a bad value."""
    check_can_change(acting_user)
    unknown = set(fields) - USAGE_FIELDS
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(record, name, "" if name == "dimension" and value is None else value)
    record.full_clean()
    record.save()
    return record


@transaction.atomic
def usage_record_delete(*, record: UsageRecord, acting_user=None) -> None:
    check_can_change(acting_user)
    record.delete()


@transaction.atomic
def usage_records_create(*, records: list[dict[str, Any]], acting_user=None) -> int:
    """Record many usage rows at once (each validated like ``usage_record_create``) with one
    insert; returns how many were written. ``records`` hold node, metric, date, quantity and
    optionally dimension."""
    check_can_change(acting_user)
    objects = []
    for fields in records:
        record = UsageRecord(**{"dimension": "", **fields})
        record.full_clean(exclude=["node"])
        if record.node_id is None:
            raise ValidationError("Each usage record needs a node.", field="node")
        objects.append(record)
    UsageRecord.objects.bulk_create(objects, batch_size=1000)
    return len(objects)
