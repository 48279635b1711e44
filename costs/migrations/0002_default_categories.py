"""The default category tree of SPEC 2.2, with the allocation dimension of each leaf.

Historical models have no django-mptt manager, so the nested-set numbers are computed here.
Existing slugs are left alone, so the migration is safe on a database that already has some.
"""

from django.db import migrations

# (name, slug, dimension, children)
DEFAULT_TREE = (
    "Expenses",
    "expenses",
    "",
    [
        (
            "Cloud",
            "cloud",
            "",
            [
                ("Compute", "compute", "compute", []),
                ("Storage", "storage", "storage", []),
                ("Network", "network", "network", []),
                ("Database", "database", "database", []),
                ("API calls", "api_calls", "api", []),
            ],
        ),
        (
            "AI",
            "ai",
            "",
            [
                ("LLM inference", "llm_inference", "llm", []),
                ("LLM embedding", "llm_embedding", "llm", []),
                ("LLM fine-tuning", "llm_fine_tuning", "llm", []),
            ],
        ),
        (
            "Software",
            "software",
            "",
            [
                ("License", "license", "license", []),
                ("SaaS", "saas", "saas", []),
            ],
        ),
        ("People", "people", "", [("Labor", "labor", "labor", [])]),
        ("Other", "other", "other", []),
    ],
)


def create_default_categories(apps, schema_editor):
    CostCategory = apps.get_model("costs", "CostCategory")
    if CostCategory.objects.filter(slug="expenses").exists():
        return
    tree_id = (
        CostCategory.objects.order_by("-tree_id").values_list("tree_id", flat=True).first() or 0
    ) + 1
    counter = [0]

    def build(node, parent, level):
        name, slug, dimension, children = node
        counter[0] += 1
        lft = counter[0]
        category = CostCategory(
            name=name,
            slug=slug,
            dimension=dimension,
            parent=parent,
            tree_id=tree_id,
            level=level,
            lft=lft,
            rght=0,
        )
        if CostCategory.objects.filter(slug=slug).exists():
            counter[0] -= 1
            return
        category.save()
        for child in sorted(children, key=lambda c: c[0]):
            build(child, category, level + 1)
        counter[0] += 1
        category.rght = counter[0]
        category.save(update_fields=["rght"])

    build(DEFAULT_TREE, None, 0)


def remove_default_categories(apps, schema_editor):
    CostCategory = apps.get_model("costs", "CostCategory")
    root = CostCategory.objects.filter(slug="expenses").first()
    if root is None:
        return
    subtree = CostCategory.objects.filter(tree_id=root.tree_id).order_by("-level")
    for category in subtree:
        category.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_default_categories, remove_default_categories),
    ]
