from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OrgunitsConfig(AppConfig):
    name = "orgunits"
    verbose_name = "Organisation"

    def ready(self) -> None:
        # The role groups come from a data migration; re-ensuring them after every migrate
        # (and after a test-database flush, which replays post_migrate) keeps them present.
        post_migrate.connect(_ensure_role_groups, sender=self)
        # every app's post_migrate (not only this one's): later apps' permissions exist only
        # once their own signal has run
        post_migrate.connect(_ensure_role_permissions, dispatch_uid="costtrack_role_permissions")
        from django.core import checks

        from .permissions import check_role_permissions

        checks.register(check_role_permissions, checks.Tags.database)


def _ensure_role_groups(sender, using="default", **kwargs) -> None:
    from django.contrib.auth.models import Group

    from costtrack.core.roles import AUDITOR, FINANCE

    for name in (FINANCE, AUDITOR):
        Group.objects.using(using).get_or_create(name=name)


def _ensure_role_permissions(sender, using="default", **kwargs) -> None:
    from .permissions import ROLE_APPS, ensure_role_permissions

    if sender.label in (*ROLE_APPS, "auth"):
        ensure_role_permissions(using=using)
