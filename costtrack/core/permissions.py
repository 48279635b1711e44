"""DRF permission classes shared by every app's API."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .exceptions import PermissionDenied
from .roles import is_finance, refuse_read_only


class FinanceManagesOthersRead(BasePermission):
    """Anyone signed in may read (querysets are scoped by selectors); only finance may write.

    An auditor's write is refused as read-only (code ``read_only``), whatever their groups.
    """

    message = "Only finance staff may change this."

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if request.method in SAFE_METHODS:
            return True
        try:
            refuse_read_only(request.user)
        except PermissionDenied as exc:
            self.message, self.code = exc.message, exc.code
            return False
        return is_finance(request.user)
