"""The spend summary now holds costs of every status (drafts, rejected, cancelled and voided
too), so every question about costs' totals, whatever the statuses, is read from it. An
installation with costs gets those rows once, by a rebuild (a month at a time, under a
share lock on the costs); later, the services keep them."""

from django.db import migrations


def rebuild_summary(apps, schema_editor):
    from costs.summary.check import summary_rebuild

    Cost = apps.get_model("costs", "Cost")
    if Cost.objects.exists():
        summary_rebuild()


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0010_import_scopes"),
    ]

    operations = [
        migrations.RunPython(rebuild_summary, migrations.RunPython.noop),
    ]
