"""The role groups hold their admin permissions, and a system check says when they do not."""

import pytest
from django.contrib.auth.models import Group, Permission

from orgunits.permissions import check_role_permissions, missing_role_permissions

pytestmark = pytest.mark.django_db


def test_finance_holds_every_permission_of_costtrack_models_and_auditors_view_only():
    finance = set(Group.objects.get(name="finance").permissions.values_list("codename", flat=True))
    auditor = set(Group.objects.get(name="auditor").permissions.values_list("codename", flat=True))
    assert {"change_cost", "add_budget", "delete_costnode", "view_user"} <= finance
    assert "view_cost" in auditor and all(c.startswith("view_") for c in auditor)
    assert missing_role_permissions() == {}
    assert check_role_permissions() == []  # without database checks it reads nothing
    assert check_role_permissions(databases=["default"]) == []


def test_the_check_warns_when_finance_loses_a_permission():
    finance = Group.objects.get(name="finance")
    finance.permissions.remove(Permission.objects.get(codename="change_cost"))
    (error,) = check_role_permissions(databases=["default"])
    assert error.id == "orgunits.W001"
    assert "'finance' group lacks 1 permission(s), e.g. costs.change_cost" in error.msg
