"""The single DRF exception handler: every error leaves the API in the shapes of SPEC 3.1.

400 ``{field: [messages]}``; 401/403/404/409/413 ``{"detail": ..., "code": ..., **extra}``.
``api_bad_request`` and ``api_not_found`` (the project's ``handler400``/``handler404``) give
requests under /api/ that never reach a view (an unknown route, a non-integer id, a body
Django refused) the same JSON shapes.
"""

from django.conf import settings
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import (
    PermissionDenied as DjangoPermissionDenied,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views import defaults
from django_fsm import TransitionNotAllowed
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from .exceptions import ApplicationError
from .middleware import is_api_request
from .uploads import UploadTooLarge, describe_size

NON_FIELD_ERRORS_KEY = api_settings.NON_FIELD_ERRORS_KEY


def _django_validation_payload(exc: DjangoValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        return {
            (NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): [str(m) for m in msgs]
            for field, msgs in exc.message_dict.items()
        }
    return {"non_field_errors": [str(m) for m in exc.messages]}


def _refused_request_payload(exc: SuspiciousOperation) -> tuple[dict, int]:
    """The body and status for a request Django refused while reading it."""
    if isinstance(exc, UploadTooLarge):
        return {
            "detail": exc.message,
            "code": "payload_too_large",
            "limit_bytes": exc.limit_bytes,
        }, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return {
            "detail": f"The request body is over the limit of {describe_size(limit)} "
            "for JSON and form data.",
            "code": "payload_too_large",
            "limit_bytes": limit,
        }, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    if isinstance(exc, TooManyFieldsSent):
        message = f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields."
    elif isinstance(exc, TooManyFilesSent):
        message = f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files."
    else:
        message = "The request is malformed."
    return {"detail": message, "code": "bad_request"}, status.HTTP_400_BAD_REQUEST


def api_bad_request(request, exception, *args, **kwargs):
    if not is_api_request(request):
        return defaults.bad_request(request, exception, *args, **kwargs)
    if isinstance(exception, SuspiciousOperation):
        body, code = _refused_request_payload(exception)
    else:
        body, code = {"detail": "The request is malformed.", "code": "bad_request"}, 400
    return JsonResponse(body, status=code)


def api_not_found(request, exception, *args, **kwargs):
    if not is_api_request(request):
        return defaults.page_not_found(request, exception, *args, **kwargs)
    return JsonResponse(
        {
            "detail": f"No API endpoint or object at {request.path_info} "
            "(object ids are whole numbers).",
            "code": "not_found",
        },
        status=status.HTTP_404_NOT_FOUND,
    )


def exception_handler(exc, context):
    if isinstance(exc, SuspiciousOperation):
        body, code = _refused_request_payload(exc)
        return Response(body, status=code)
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
