"""Request parsers for the whole API (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]).

Every write takes a JSON object: ``null``, a list, a number or a string is refused with a 400
naming the problem. JSON numbers keep their text, so an amount can tell ``1000.00`` from
``1e3``; the bare constants ``NaN`` and ``Infinity`` (which Python's json accepts, JSON does
not) are refused. Form and multipart fields are checked like JSON strings, and a multipart
upload is refused with 413 by its Content-Length before it is read, then counted while it
streams (``costtrack.core.uploads``).
"""

import json

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from .exceptions import ValidationError
from .inputs import MAX_JSON_DEPTH, check_json_document, text_problem
from .uploads import UploadLimitHandler, upload_too_large


class JSONNumber(float):
    """A JSON number with a fraction or exponent: a float that remembers how it was written."""

    text: str

    def __new__(cls, text: str):
        number = super().__new__(cls, text)
        number.text = text
        return number


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a list" if isinstance(value, list) else "a string"


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError:
            raise ParseError(f"The request body is not valid {encoding} text.") from None
        try:
            data = json.loads(text, parse_float=JSONNumber, parse_constant=_refuse_constant)
        except RecursionError:
            raise ValidationError(
                f"The JSON body is nested too deeply; the limit is {MAX_JSON_DEPTH} levels.",
                code="too_deep",
            ) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if not isinstance(data, dict):
            raise ValidationError(
                f"The request body must be a JSON object, not {_json_kind(data)}.",
                code="not_an_object",
            )
        check_json_document(data)
        return data


def _check_form_fields(data) -> None:
    for key, values in data.lists():
        for value in [key, *values]:
            problem = isinstance(value, str) and text_problem(value)
            if problem:
                raise ValidationError(f"{key!r} {problem}.", field=key, code="invalid_text")


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_form_fields(data)
        return data


def upload_limit_for(view) -> int:
    """The largest multipart body ``view`` accepts, in bytes: its ``upload_max_bytes`` or,
    for views that take no files, the JSON body limit."""
    limit = getattr(view, "upload_max_bytes", None)
    if limit is None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return int(limit)


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        limit = upload_limit_for(parser_context.get("view"))
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            raise upload_too_large(length, limit, what="The request body")
        for handler in parser_context.get("upload_handlers") or request.upload_handlers:
            if isinstance(handler, UploadLimitHandler):
                handler.max_bytes = min(handler.max_bytes, limit)
        result = super().parse(stream, media_type, parser_context)
        _check_form_fields(result.data)
        return result
