"""The one family of errors services raise; the API and pages map them to responses.

``ApplicationError`` carries a human message, a machine ``code`` and optional ``extra``
details (for instance the budgets that blocked a submission). Each subclass fixes the
HTTP status the API answers with.
"""

from typing import Any


class ApplicationError(Exception):
    status_code = 400
    default_code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        self.extra = extra or {}


class ValidationError(ApplicationError):
    """Bad input: answered with 400 ``{field: [message]}``."""


class PermissionDenied(ApplicationError):
    status_code = 403
    default_code = "permission_denied"


class NotFound(ApplicationError):
    status_code = 404
    default_code = "not_found"


class Conflict(ApplicationError):
    """An invalid state transition or a concurrent change: answered with 409."""

    status_code = 409
    default_code = "conflict"
