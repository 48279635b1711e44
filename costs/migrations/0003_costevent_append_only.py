"""CostEvent rows are append-only: on PostgreSQL a trigger refuses UPDATE and DELETE.

TRUNCATE is left alone on purpose: ``flush`` (and so the test runner) empties tables with it.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION costs_costevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'costs_costevent rows are immutable (' || TG_OP || ' refused)',
        ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS costs_costevent_append_only ON costs_costevent;
CREATE TRIGGER costs_costevent_append_only
    BEFORE UPDATE OR DELETE ON costs_costevent
    FOR EACH ROW EXECUTE FUNCTION costs_costevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS costs_costevent_append_only ON costs_costevent;
DROP FUNCTION IF EXISTS costs_costevent_append_only();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0002_default_categories"),
    ]

    operations = [
        migrations.RunPython(create_trigger, drop_trigger),
    ]
