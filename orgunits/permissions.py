"""The Django permissions of the role groups: what finance and auditors may do in the admin.

``finance`` holds every permission of costtrack's own models (the admin's writes still go
through the services) and may view users and groups; ``auditor`` may view every model and
change nothing. Granted after every ``migrate`` (``post_migrate``, once Django has created
each app's permissions; also after a test database's flush) rather than by a data migration,
which would run before the permissions of later apps exist. A database system check
(``orgunits.W001``, run by ``costtrack check --database default`` and before every
``migrate``) says loudly when a group has lost any of them; a warning, not an error, so the
``migrate`` that grants them back is not itself refused.
"""

from django.contrib.auth.models import Group, Permission
from django.db import DatabaseError
from django.db.models import Q

from costtrack.core.roles import AUDITOR, FINANCE

# the apps whose models are costtrack's own
ROLE_APPS = (
    "core",
    "orgunits",
    "costs",
    "budgets",
    "allocation",
    "notifications",
    "recommendations",
)


def _role_query(role: str) -> Q:
    own = Q(content_type__app_label__in=ROLE_APPS)
    if role == FINANCE:
        return own | Q(content_type__app_label="auth", codename__in=["view_user", "view_group"])
    return own & Q(codename__startswith="view_")


def ensure_role_permissions(*, using: str = "default") -> None:
    """Give each role group every permission it should hold (idempotent)."""
    for role in (FINANCE, AUDITOR):
        group, _ = Group.objects.using(using).get_or_create(name=role)
        wanted = Permission.objects.using(using).filter(_role_query(role))
        group.permissions.add(*wanted)


def missing_role_permissions(*, using: str = "default") -> dict[str, list[str]]:
    """``{role: ["app.codename", …]}`` of the permissions a role group lacks."""
    missing = {}
    for role in (FINANCE, AUDITOR):
        wanted = Permission.objects.using(using).filter(_role_query(role))
        lacking = wanted.exclude(group__name=role).values_list(
            "content_type__app_label", "codename"
        )
        names = sorted(f"{app}.{codename}" for app, codename in lacking)
        if names:
            missing[role] = names
    return missing


def check_role_permissions(app_configs=None, databases=None, **kwargs):
    """System check: the role groups hold their permissions, in each of ``databases`` (none
    unless the caller asks for database checks; skipped before ``migrate``)."""
    from django.core.checks import Warning as CheckWarning

    if not databases or "default" not in databases:
        return []
    try:
        missing = missing_role_permissions()
    except DatabaseError:  # no database yet, or not migrated: migrate grants them
        return []
    return [
        CheckWarning(
            f"The '{role}' group lacks {len(names)} permission(s), e.g. {', '.join(names[:3])}.",
            hint="Run `costtrack migrate` (it grants the role groups their permissions).",
            id="orgunits.W001",
        )
        for role, names in missing.items()
    ]
