"""The organisation-wide roles: Django groups created by a data migration in ``orgunits``."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from .exceptions import PermissionDenied

FINANCE = "finance"
AUDITOR = "auditor"


def _group_names(user) -> frozenset[str]:
    cached = getattr(user, "_costtrack_groups", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True)) if user.pk else frozenset()
        user._costtrack_groups = cached
    return cached


def is_finance(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Finance staff see and manage everything (superusers count as finance).

    A user in both ``finance`` and ``auditor`` is an auditor: read-only wins, so every
    finance-only write (budgets, periods, imports, allocation, voids) refuses them too.
    """
    if not user or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    groups = _group_names(user)
    return FINANCE in groups and AUDITOR not in groups


def is_auditor(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user or not user.is_authenticated:
        return False
    return AUDITOR in _group_names(user)


def sees_everything(user) -> bool:
    """Finance and auditors read every object in the organisation."""
    return is_finance(user) or is_auditor(user)


def is_read_only(user) -> bool:
    """Auditors read everything and change nothing (SPEC 2.1), whatever else they also are:
    a unit member, owner or approver, a delegate, or even in ``finance``."""
    return is_auditor(user)


def refuse_read_only(user) -> None:
    """Raise ``PermissionDenied`` (403, code ``read_only``) when ``user`` may change nothing."""
    if is_read_only(user):
        raise PermissionDenied("Auditors read everything and change nothing.", code="read_only")
