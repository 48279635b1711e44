"""Limits checked before a view runs, so that no body is read that costtrack would refuse.

A request whose Content-Length is over the largest body costtrack accepts anywhere
(``COSTTRACK_IMPORT_MAX_MB``) is answered 413 before anything reads it. API query parameters
holding a NUL character are answered 400 naming the parameter (PostgreSQL could not compare
with them).
"""

from django.http import HttpResponse, JsonResponse

from .inputs import text_problem
from .uploads import describe_size, max_upload_bytes

API_PREFIX = "/api/"


def is_api_request(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


class RequestLimitsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self._refuse_oversized(request) or self._refuse_bad_query(request)
        return response or self.get_response(request)

    def _refuse_oversized(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None  # Django refuses a malformed Content-Length itself
        limit = max_upload_bytes()
        if length <= limit:
            return None
        message = (
            f"The request body is {describe_size(length)}; "
            f"costtrack accepts at most {describe_size(limit)}."
        )
        if is_api_request(request):
            return JsonResponse(
                {"detail": message, "code": "payload_too_large", "limit_bytes": limit},
                status=413,
            )
        return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")

    def _refuse_bad_query(self, request):
        if not is_api_request(request):
            return None
        for key, values in request.GET.lists():
            for value in [key, *values]:
                problem = text_problem(value)
                if problem:
                    return JsonResponse(
                        {key: [f"The query parameter {key!r} {problem}."]}, status=400
                    )
        return None
