"""The default category tree of SPEC 2.2, kept present on every database.

The tree itself is defined once, in the data migration that first created it; after every
migrate (and after a test-database flush, which replays post_migrate) ``ensure_default_categories``
adds whatever of it is missing, through django-mptt's own manager.
"""

import importlib

from django.db import transaction


def default_tree():
    migration = importlib.import_module("costs.migrations.0002_default_categories")
    return migration.DEFAULT_TREE


@transaction.atomic
def ensure_default_categories(*, using: str = "default") -> int:
    """Create missing default categories; return how many were created."""
    from .models import CostCategory

    created = 0

    def build(node, parent):
        nonlocal created
        name, slug, dimension, children = node
        category = CostCategory.objects.using(using).filter(slug=slug).first()
        if category is None:
            category = CostCategory(name=name, slug=slug, dimension=dimension, parent=parent)
            category.save(using=using)
            created += 1
        for child in children:
            build(child, category)

    build(default_tree(), None)
    return created
