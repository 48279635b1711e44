"""The single DRF exception handler: every error leaves the API in the shapes of SPEC 3.1.

400 ``{field: [messages]}``; 401/403/404/409 ``{"detail": ..., "code": ..., **extra}``.
"""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django_fsm import TransitionNotAllowed
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from .exceptions import ApplicationError

NON_FIELD_ERRORS_KEY = api_settings.NON_FIELD_ERRORS_KEY


def _django_validation_payload(exc: DjangoValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        return {
            (NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): [str(m) for m in msgs]
            for field, msgs in exc.message_dict.items()
        }
    return {"non_field_errors": [str(m) for m in exc.messages]}


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        if exc.status_code == status.HTTP_400_BAD_REQUEST:
            body = {exc.field or NON_FIELD_ERRORS_KEY: [exc.message]}
            body.update(exc.extra)
        else:
            body = {"detail": exc.message, "code": exc.code, **exc.extra}
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        return Response(_django_validation_payload(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, TransitionNotAllowed):
        return Response(
            {"detail": str(exc), "code": "invalid_transition"}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        if isinstance(response.data, list):
            response.data = {NON_FIELD_ERRORS_KEY: response.data}
        return response
    if isinstance(exc, drf_exceptions.APIException) and isinstance(response.data, dict):
        detail = response.data.get("detail", exc.detail)
        code = getattr(detail, "code", None) or exc.default_code
        response.data = {"detail": str(detail), "code": code}
    return response
