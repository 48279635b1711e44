"""The role groups come from a data migration (not only from the test factories)."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from costtrack.core.roles import AUDITOR, FINANCE

pytestmark = pytest.mark.django_db

ROLE_GROUPS = {FINANCE, AUDITOR}
MIGRATION = ("orgunits", "0002_roles_groups")


def role_groups() -> set[str]:
    return set(Group.objects.filter(name__in=ROLE_GROUPS).values_list("name", flat=True))


def test_a_migrated_database_has_the_role_groups():
    executor = MigrationExecutor(connection)
    assert MIGRATION in executor.loader.applied_migrations
    assert role_groups() == ROLE_GROUPS


def test_the_data_migration_creates_and_removes_the_role_groups():
    """Run the migration itself (no post_migrate signal, no factory) on a database without
    the groups, then reverse it."""
    Group.objects.filter(name__in=ROLE_GROUPS).delete()
    assert role_groups() == set()
    loader = MigrationExecutor(connection).loader
    migration = loader.get_migration(*MIGRATION)

    with connection.schema_editor() as editor:
        migration.apply(loader.project_state(("orgunits", "0001_initial")), editor)
    assert role_groups() == ROLE_GROUPS
    with connection.schema_editor() as editor:  # applying twice creates no duplicate
        migration.apply(loader.project_state(("orgunits", "0001_initial")), editor)
    assert Group.objects.filter(name__in=ROLE_GROUPS).count() == 2

    with connection.schema_editor() as editor:
        migration.unapply(loader.project_state(MIGRATION), editor)
    assert role_groups() == set()
