"""Writes to the category tree (finance only when an acting user is given)."""

from django.db import transaction
from django.db.models import ProtectedError

from costtrack.core.db import advisory_xact_lock
from costtrack.core.exceptions import Conflict, PermissionDenied, ValidationError
from costtrack.core.roles import is_finance, refuse_read_only

from ..models import CostCategory

TREE_LOCK = "costs.category_tree"
DEFAULT_SLUG = "other"
CATEGORY_FIELDS = {"name", "slug", "parent", "dimension", "description"}


def _check_finance(acting_user) -> None:
    if acting_user is None:
        return
    refuse_read_only(acting_user)
    if not is_finance(acting_user):
        raise PermissionDenied("Only finance staff may change categories.")


def category_default() -> CostCategory:
    """The ``other`` category, for costs recorded without one (recreated if it was removed)."""
    category = CostCategory.objects.filter(slug=DEFAULT_SLUG).first()
    if category is None:
        category = category_create(name="Other", slug=DEFAULT_SLUG, dimension="other")
    return category


@transaction.atomic
def category_create(
    *,
    name: str,
    slug: str,
    parent: CostCategory | None = None,
    dimension: str = "",
    description: str = "",
    acting_user=None,
) -> CostCategory:
    """Create a category under ``parent`` (or as a root); the tree is written under a lock."""
    _check_finance(acting_user)
    advisory_xact_lock(TREE_LOCK)
    if parent is not None:
        parent.refresh_from_db()
    category = CostCategory(
        name=name, slug=slug, parent=parent, dimension=dimension, description=description
    )
    category.full_clean()
    category.save()
    return category


@transaction.atomic
def category_update(*, category: CostCategory, acting_user=None, **fields) -> CostCategory:
    """Change a category; a new ``parent`` moves it with its subtree (never under itself)."""
    _check_finance(acting_user)
    unknown = set(fields) - CATEGORY_FIELDS
    if unknown:
        raise ValidationError(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    advisory_xact_lock(TREE_LOCK)
    category.refresh_from_db()
    if "parent" in fields:
        parent = fields.pop("parent")
        if parent is not None:
            parent.refresh_from_db()
            if parent.tree_id == category.tree_id and category.lft <= parent.lft <= category.rght:
                raise ValidationError(
                    "A category cannot move under itself or its subcategories.", field="parent"
                )
        if parent != category.parent:
            category.parent = parent
            category.save()
            category.refresh_from_db()
    for name, value in fields.items():
        setattr(category, name, value)
    category.full_clean()
    category.save()
    return category


@transaction.atomic
def category_delete(*, category: CostCategory, acting_user=None) -> None:
    """Delete a category without subcategories or costs; otherwise ``Conflict``."""
    _check_finance(acting_user)
    advisory_xact_lock(TREE_LOCK)
    if category.get_children().exists():
        raise Conflict("Delete or move its subcategories first.", code="has_children")
    try:
        category.delete()
    except ProtectedError:
        raise Conflict(
            "Costs or budgets use this category; it cannot be deleted.", code="in_use"
        ) from None
