"""Extension points through which higher apps act inside the allocation app's transactions.

``hook(*, run)`` runs inside the transaction in which an allocation run succeeded (computed,
or finished as a copy of an equal run), after the run row is saved: a higher app that reads
the run's results (recommendations) records its own job there, so that the job exists only
if the run commits. ``allocation`` imports nothing of the apps that register.
"""

from collections.abc import Callable

_run_finished_hooks: list[Callable[..., None]] = []


def register_run_finished_hook(hook: Callable[..., None]) -> None:
    if hook not in _run_finished_hooks:
        _run_finished_hooks.append(hook)


def run_finished_hooks() -> tuple[Callable[..., None], ...]:
    return tuple(_run_finished_hooks)
