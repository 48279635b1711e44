from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OrgunitsConfig(AppConfig):
    name = "orgunits"
    verbose_name = "Organisation"

    def ready(self) -> None:
        # The role groups come from a data migration; re-ensuring them after every migrate
        # (and after a test-database flush, which replays post_migrate) keeps them present.
        post_migrate.connect(_ensure_role_groups, sender=self)


def _ensure_role_groups(sender, using="default", **kwargs) -> None:
    from django.contrib.auth.models import Group

    from costtrack.core.roles import AUDITOR, FINANCE

    for name in (FINANCE, AUDITOR):
        Group.objects.using(using).get_or_create(name=name)
