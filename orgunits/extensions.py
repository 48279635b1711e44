"""Extension points through which higher apps act inside the organisation tree's writes.

``orgunits`` imports no other app. An app that keeps figures per subtree (the costs app's
spend summary rolls every cost up to each ancestor of its unit) registers a *move hook* in its
``AppConfig.ready()``: a callable ``hook(*, unit_ids)`` returning a context manager that
``orgunits.services.unit_move`` enters around the move, inside its transaction, with the ids
of the unit and its descendants. Code before the ``yield`` sees the old tree, after it the
new one.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager

MoveHook = Callable[..., AbstractContextManager]

_move_hooks: list[MoveHook] = []


def register_move_hook(hook: MoveHook) -> None:
    if hook not in _move_hooks:
        _move_hooks.append(hook)


def move_hooks() -> list[MoveHook]:
    return list(_move_hooks)
