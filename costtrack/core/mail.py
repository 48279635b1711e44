"""Mail headers built from user text (a cost's description, a budget's name...).

A header value may never carry a line break: Django refuses it with ``BadHeaderError`` and the
mail would never leave. Every subject is folded to one line and cut to a length mail clients
show; the body keeps the text as written.
"""

import re

SUBJECT_MAX_LENGTH = 200

_LINE_BREAKS_AND_CONTROLS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")


def header_safe(text: str, *, max_length: int = SUBJECT_MAX_LENGTH) -> str:
    """``text`` on one line: line breaks, tabs and other control characters become one space,
    runs of spaces collapse, and a value longer than ``max_length`` ends with an ellipsis."""
    value = _LINE_BREAKS_AND_CONTROLS.sub(" ", str(text or ""))
    value = _SPACES.sub(" ", value).strip()
    if len(value) > max_length:
        value = value[: max_length - 1].rstrip() + "\u2026"
    return value
