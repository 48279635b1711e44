"""Extension points through which higher apps act inside the costs app's transactions.

``costs`` must not import ``budgets`` (dependencies run one way). Instead, ``budgets``
registers a submission check in its ``AppConfig.ready()``; ``costs.services`` calls every
registered check inside the submit transaction, after the cost row is locked and before the
status changes. A check either returns warnings (a list of dicts that the API passes on
under ``warnings``) or raises ``costtrack.core.exceptions.PermissionDenied`` (code
``budget_exceeded``) to refuse the submission.

Likewise ``decision hooks`` run after an approval or rejection commits its row changes (still
inside the transaction), e.g. so that budgets can check thresholds the approval crossed.
``approval checks`` have the contract of submission checks and run inside the approval
transaction, after the cost row is locked and before it becomes approved.

A check's refusal rolls its transaction back, so nothing it wrote inside would survive.
``refusal hooks`` run afterwards, outside the refused transaction, with the error, so that
they can record it (budgets notify the owners of a budget that refused a cost).
"""

import logging
from collections.abc import Callable
from typing import Any, Protocol

from costtrack.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)


class SubmissionCheck(Protocol):
    def __call__(
        self, *, cost, acting_user, override_reason: str | None
    ) -> list[dict[str, Any]]: ...


_submission_checks: list[SubmissionCheck] = []
_decision_hooks: list[Callable[..., None]] = []


def register_submission_check(check: SubmissionCheck) -> None:
    if check not in _submission_checks:
        _submission_checks.append(check)


def submission_checks() -> tuple[SubmissionCheck, ...]:
    return tuple(_submission_checks)


def register_decision_hook(hook: Callable[..., None]) -> None:
    """``hook(*, cost, acting_user)`` runs after a cost is approved, rejected or voided."""
    if hook not in _decision_hooks:
        _decision_hooks.append(hook)


def decision_hooks() -> tuple[Callable[..., None], ...]:
    return tuple(_decision_hooks)


_approval_checks: list[SubmissionCheck] = []
_refusal_hooks: list[Callable[..., None]] = []


def register_approval_check(check: SubmissionCheck) -> None:
    if check not in _approval_checks:
        _approval_checks.append(check)


def approval_checks() -> tuple[SubmissionCheck, ...]:
    return tuple(_approval_checks)


def register_refusal_hook(hook: Callable[..., None]) -> None:
    """``hook(*, error)`` runs after a submission or approval check raised ``error`` and the
    refused transaction rolled back. It writes in a transaction of its own and never raises."""
    if hook not in _refusal_hooks:
        _refusal_hooks.append(hook)


def refusal_hooks() -> tuple[Callable[..., None], ...]:
    return tuple(_refusal_hooks)


# ``check(*, costs, acting_user, override_reason, approval, booking)`` judges several costs
# as one booking (a billing import, a batch approval): each budget on the sum of the costs
# it covers. Warnings or a refusal as a submission check; ``approval`` selects the approval
# rules; ``booking`` is a cost standing for the whole, for the refusal's report.
_booking_checks: list[Callable[..., list[dict[str, Any]]]] = []


def register_booking_check(check: Callable[..., list[dict[str, Any]]]) -> None:
    if check not in _booking_checks:
        _booking_checks.append(check)


def booking_checks() -> tuple[Callable[..., list[dict[str, Any]]], ...]:
    return tuple(_booking_checks)


def run_booking_checks(
    *, costs: list, acting_user, override_reason: str | None, approval: bool, booking
) -> list[dict[str, Any]]:
    """Run the booking checks on ``costs``; a refusal is marked as ``run_checks`` marks it."""
    warnings: list[dict[str, Any]] = []
    for check in booking_checks():
        try:
            found = check(
                costs=costs,
                acting_user=acting_user,
                override_reason=override_reason,
                approval=approval,
                booking=booking,
            )
        except ApplicationError as exc:
            exc.refused_by_check = True
            raise
        warnings.extend(found or [])
    return warnings


def run_checks(checks, *, cost, acting_user, override_reason: str | None) -> list[dict[str, Any]]:
    """Run submission or approval ``checks`` on ``cost``; return their warnings.

    A check's refusal is re-raised marked as one (``refused_by_check``), so that whoever
    rolls the transaction back can pass it to ``report_refusal``.
    """
    warnings: list[dict[str, Any]] = []
    for check in checks:
        try:
            found = check(cost=cost, acting_user=acting_user, override_reason=override_reason)
        except ApplicationError as exc:
            exc.refused_by_check = True
            raise
        warnings.extend(found or [])
    return warnings


def report_refusal(error: BaseException) -> None:
    """After a refused transaction rolled back: give a check's refusal to the refusal hooks.

    Call it outside that transaction. A hook's failure is logged, never raised: it must not
    hide the refusal itself.
    """
    if not getattr(error, "refused_by_check", False):
        return
    for hook in refusal_hooks():
        try:
            hook(error=error)
        except Exception:
            logger.exception("Refusal hook %r failed.", hook)


# --- accounting periods ----------------------------------------------------------------
# ``guard(*, day)`` raises ``Conflict`` when a cost incurred on ``day`` may no longer change
# (costs.periods registers the closed-period guard); the cost services call every guard
# before they create, edit or transition a cost.
_cost_change_guards: list[Callable[..., None]] = []
# ``step(*, period, acting_user) -> dict`` runs while a period closes, after recurring costs
# are generated and before the figures are frozen (allocation registers its run here). It must
# be idempotent: a close that died is run again and calls it again. It returns what it did
# (JSON), stored on the period under the step's name.
_period_close_steps: dict[str, Callable[..., dict[str, Any]]] = {}


def register_cost_change_guard(guard: Callable[..., None]) -> None:
    if guard not in _cost_change_guards:
        _cost_change_guards.append(guard)


def cost_change_guards() -> tuple[Callable[..., None], ...]:
    return tuple(_cost_change_guards)


def register_period_close_step(name: str, step: Callable[..., dict[str, Any]]) -> None:
    _period_close_steps[name] = step


def period_close_steps() -> tuple[tuple[str, Callable[..., dict[str, Any]]], ...]:
    return tuple(_period_close_steps.items())


# --- exchange rates --------------------------------------------------------------------
# ``hook(*, currency, since)`` runs inside the transaction that changes a rate of
# ``currency`` from ``since`` on, beside the costs' own reconversion job: a higher app that
# stores amounts converted by ``costs.services.rates.convert`` (allocation's revenue) records
# its own reconversion job there.
_rate_change_hooks: list[Callable[..., None]] = []


def register_rate_change_hook(hook: Callable[..., None]) -> None:
    if hook not in _rate_change_hooks:
        _rate_change_hooks.append(hook)


def rate_change_hooks() -> tuple[Callable[..., None], ...]:
    return tuple(_rate_change_hooks)


# --- billing imports ---------------------------------------------------------------------
# ``hook(*, batch)`` runs inside the transaction of a billing import that succeeded (after
# its costs and batch row are written): a higher app that derives figures from imported
# costs (recommendations) records its own job there, so the job exists only if the import
# commits.
_import_finished_hooks: list[Callable[..., None]] = []


def register_import_finished_hook(hook: Callable[..., None]) -> None:
    if hook not in _import_finished_hooks:
        _import_finished_hooks.append(hook)


def import_finished_hooks() -> tuple[Callable[..., None], ...]:
    return tuple(_import_finished_hooks)
