"""OpenAPI schema post-processing: every operation documents the errors it can answer.

Every error the API returns is a JSON object (``detail`` and ``code``, or field names mapped
to their messages for validation errors), rendered by the one exception handler of
``costtrack.core``. Documenting them on each operation lets generated clients parse them and
lets schema-conformance tests check every answer, not only the successful ones.
"""

ERROR_RESPONSES = {
    "400": "The request is malformed or fails validation; the body names the problem.",
    "401": "Not signed in (session or token).",
    "403": "Signed in, but not allowed (or refused by a budget or a rule).",
    "404": "No such object, or one the user may not see.",
    "405": "The method is not allowed on this path.",
    "409": "The object's state does not allow this now (a closed period, a decided cost).",
    "413": "The body or the uploaded file is larger than the limit.",
    "415": "The body's media type is not accepted.",
}
ERROR_SCHEMA = {
    "type": "object",
    "description": "An error: ``detail`` and ``code``, or field names with their messages.",
    # ``detail`` and ``code`` are strings, except on a validation error of fields that
    # happen to bear those names (then a list of messages)
    "properties": {
        "detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "code": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    },
    "additionalProperties": True,
}
METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


def add_error_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: an ``Error`` component and, on every
    operation, the error statuses it does not document itself."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for methods in result.get("paths", {}).values():
        for method, operation in methods.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
