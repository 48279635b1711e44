"""What costtrack accepts inside request data, checked once for every endpoint.

PostgreSQL cannot store a NUL character in text, and a lone UTF-16 surrogate is not text at
all; either would fail deep in a write with a database error. JSON nested deeper than any
costtrack document exhausts the interpreter's recursion. ``check_json_document`` refuses all
three up front, naming the field at fault.
"""

from typing import Any

from .exceptions import ValidationError

MAX_JSON_DEPTH = 32


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or ``None`` when it can."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which cannot be stored"
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        return "contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid text"
    return None


def _path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_json_document(data: Any) -> None:
    """Refuse NUL characters, lone surrogates (in keys and values) and nesting deeper than
    ``MAX_JSON_DEPTH`` anywhere in a parsed JSON document.

    Raises ``ValidationError`` on the top-level field that holds the problem, with the full
    path in the message (``tags.env``, ``metadata.a[2].b``). Walks without recursion, so any
    depth is safe to inspect.
    """
    stack: list[tuple[Any, list[str | int]]] = [(data, [])]
    while stack:
        value, path = stack.pop()
        field = str(path[0]) if path else None
        if len(path) > MAX_JSON_DEPTH:
            raise ValidationError(
                f"'{_path(path[:1])}' is nested more than {MAX_JSON_DEPTH} levels deep; "
                f"the limit is {MAX_JSON_DEPTH}.",
                field=field,
                code="too_deep",
            )
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                where = _path(path) if path else "The request body"
                raise ValidationError(f"{where} {problem}.", field=field, code="invalid_text")
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = text_problem(key)
                if problem:
                    where = f"A key in {_path(path)}" if path else "A field name"
                    raise ValidationError(
                        f"{where} {problem}.",
                        field=field or "non_field_errors",
                        code="invalid_text",
                    )
                stack.append((item, [*path, key]))
        elif isinstance(value, list):
            stack.extend((item, [*path, index]) for index, item in enumerate(value))
