"""DRF permission classes shared by every app's API."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .roles import is_finance


class FinanceManagesOthersRead(BasePermission):
    """Anyone signed in may read (querysets are scoped by selectors); only finance may write."""

    message = "Only finance staff may change this."

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        return request.method in SAFE_METHODS or is_finance(request.user)
