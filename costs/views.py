"""Pages of the costs app: the approval inbox and a cost's detail with its audit trail.

Views validate a form, call a selector or a service and redirect with a message; the rules
(who may decide, which transition is valid) live in ``costs.services``. A cost the user may
not see is a 404.
"""

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from costtrack.core.exceptions import ApplicationError, NotFound
from costtrack.core.money import reporting_currency
from costtrack.core.pagination import CappedCountPaginator
from costtrack.core.roles import is_finance, is_read_only
from orgunits.models import OrganizationUnit
from orgunits.selectors import subtree_q, unit_range

from . import selectors, services
from .approvers import can_decide
from .forms import (
    BulkDecisionForm,
    CommentForm,
    DecisionForm,
    ImportDecisionForm,
    InboxFilterForm,
    VoidForm,
)
from .imports import selectors as import_selectors
from .imports import services as import_services
from .models import Cost, ImportBatch

# a page an approver works through at one sitting; each row carries its own decision form
INBOX_PAGE_SIZE = 50
ACTIONS = ("approve", "reject", "submit", "revise", "cancel", "void")
ACTION_DONE = {
    "approve": "approved",
    "reject": "rejected",
    "submit": "submitted",
    "revise": "taken back to draft",
    "cancel": "cancelled",
    "void": "voided",
}


# --- helpers ---------------------------------------------------------------------------


def _next_url(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _visible_cost(user, pk: int) -> Cost:
    try:
        return selectors.cost_get(user=user, cost_id=pk)
    except NotFound:
        raise Http404("No such cost.") from None


def run_action(
    *, action: str, cost: Cost, user, comment: str, override_reason: str = ""
) -> services.CostResult:
    """Call the service of ``action``; raises ``ApplicationError`` as the service does.

    ``override_reason`` (finance only) lets a submission or an approval past a budget block.
    The result carries the submission checks' warnings (e.g. exceeded ``warn`` budgets)."""
    override = override_reason.strip() or None
    if action == "approve":
        return services.CostResult(
            cost=services.cost_approve(
                cost=cost, acting_user=user, comment=comment, override_reason=override
            )
        )
    if action == "reject":
        return services.CostResult(
            cost=services.cost_reject(cost=cost, acting_user=user, comment=comment)
        )
    if action == "submit":
        return services.cost_submit(
            cost=cost, acting_user=user, comment=comment, override_reason=override
        )
    if action == "revise":
        return services.CostResult(
            cost=services.cost_revise(cost=cost, acting_user=user, comment=comment)
        )
    if action == "cancel":
        return services.CostResult(
            cost=services.cost_cancel(cost=cost, acting_user=user, comment=comment)
        )
    if action == "void":
        return services.CostResult(
            cost=services.cost_void(cost=cost, acting_user=user, reason=comment)
        )
    raise Http404("No such action.")


def warning_texts(result: services.CostResult) -> list[str]:
    """What the submission checks' warnings say (each carries a ``message``)."""
    texts = []
    for warning in result.warnings:
        text = warning.get("message") or str(warning.get("name", "")) or "A check warned."
        if warning.get("overridden"):
            text = f"Overridden ({warning.get('override_reason', '')}): {text}"
        texts.append(text)
    return texts


def _form_errors(form) -> str:
    return " ".join(str(m) for errors in form.errors.values() for m in errors)


# --- the approval inbox ----------------------------------------------------------------


@dataclass
class InboxRow:
    cost: Cost
    age_days: int


def _filter_inbox(qs: QuerySet[Cost], data: dict[str, Any]) -> QuerySet[Cost]:
    unit = data.get("unit")
    if unit is not None:
        qs = qs.filter(subtree_q([unit_range(unit)], "organization_unit"))
    category = data.get("category")
    if category is not None:
        qs = qs.filter(selectors.category_with_descendants_q(category))
    if data.get("amount_min") is not None:
        qs = qs.filter(amount_reporting__gte=data["amount_min"])
    if data.get("amount_max") is not None:
        qs = qs.filter(amount_reporting__lte=data["amount_max"])
    if data.get("age"):
        qs = qs.filter(submitted_at__lte=timezone.now() - timedelta(days=data["age"]))
    if data.get("q"):
        qs = qs.filter(Q(description__icontains=data["q"]))
    return qs


@login_required
@require_GET
def approval_inbox(request: HttpRequest) -> HttpResponse:
    """``/approvals/``: pending costs waiting for the user's decision, oldest first."""
    awaiting = selectors.costs_awaiting(request.user)
    import_groups = _import_groups(request.user)
    if import_groups:
        # imported costs decided as one batch are shown (and decided) per import instead
        awaiting = awaiting.exclude(_import_groups_q(import_groups))
    units = OrganizationUnit.objects.filter(
        pk__in=awaiting.order_by().values("organization_unit_id")
    ).order_by("tree_id", "lft")
    form = InboxFilterForm(request.GET or None, units=units, categories=selectors.category_list())
    filtered = awaiting
    if form.is_bound:
        if form.is_valid():
            filtered = _filter_inbox(awaiting, form.cleaned_data)
        else:
            filtered = awaiting.none()
    page = CappedCountPaginator(filtered, INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [
        InboxRow(cost=cost, age_days=(now - (cost.submitted_at or cost.created_at)).days)
        for cost in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "costs/inbox.html",
        {
            "form": form,
            "rows": rows,
            "page": page,
            "filter_query": query.urlencode(),
            "decision_form": DecisionForm(),
            "bulk_form": BulkDecisionForm(),
            "import_groups": import_groups,
            "reporting_currency": reporting_currency(),
        },
    )


def _import_groups(user) -> list[dict[str, Any]]:
    """The user's import approval groups, each with ``approver_name`` (None: finance)."""
    groups = import_selectors.import_groups_awaiting(user)
    others = {g["approver_id"] for g in groups} - {None, user.pk}
    names = {}
    if others:
        names = {
            u.pk: u.get_full_name() or u.username
            for u in get_user_model().objects.filter(pk__in=others)
        }
    names[user.pk] = "you"
    for group in groups:
        group["approver_name"] = names.get(group["approver_id"])
    return groups


def _import_groups_q(groups: list[dict[str, Any]]) -> Q:
    condition = Q(pk__in=[])
    for group in groups:
        approver = (
            Q(approver__isnull=True)
            if group["approver_id"] is None
            else Q(approver_id=group["approver_id"])
        )
        condition |= Q(import_link__batch_id=group["batch_id"]) & approver
    return condition


@login_required
@require_POST
def approval_import_decide(request: HttpRequest, batch_id: int) -> HttpResponse:
    """Approve or reject every pending cost of one import routed to one approver."""
    back = _next_url(request, reverse("costs:inbox"))
    form = ImportDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Import #{batch_id}: {_form_errors(form)}")
        return HttpResponseRedirect(back)
    approver_id = form.cleaned_data["approver"]
    offered = any(
        g["batch_id"] == batch_id and g["approver_id"] == approver_id
        for g in import_selectors.import_groups_awaiting(request.user)
    )
    batch = ImportBatch.objects.filter(pk=batch_id).first()
    if not offered or batch is None:
        raise Http404("Nothing of this import waits for your decision.")
    approver = get_user_model().objects.get(pk=approver_id) if approver_id else None
    decision = form.cleaned_data["decision"]
    try:
        count = import_services.import_batch_decide(
            batch=batch,
            approver=approver,
            decision=decision,
            comment=form.cleaned_data["comment"],
            acting_user=request.user,
        )
    except ApplicationError as exc:
        messages.error(request, f"Import #{batch.pk}: {exc.message}")
    else:
        messages.success(
            request, f"{count} imported cost(s) of {batch.file_name} {ACTION_DONE[decision]}."
        )
    return HttpResponseRedirect(back)


@login_required
@require_POST
def approval_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve or reject one cost from the inbox with a comment."""
    back = _next_url(request, reverse("costs:inbox"))
    cost = _visible_cost(request.user, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Cost #{cost.pk}: {_form_errors(form)}")
        return HttpResponseRedirect(back)
    decision = form.cleaned_data["decision"]
    try:
        run_action(
            action=decision, cost=cost, user=request.user, comment=form.cleaned_data["comment"]
        )
    except ApplicationError as exc:
        messages.error(request, f"Cost #{cost.pk}: {exc.message}")
    else:
        messages.success(request, f"Cost #{cost.pk} {ACTION_DONE[decision]}.")
    return HttpResponseRedirect(back)


@login_required
@require_POST
def approval_bulk(request: HttpRequest) -> HttpResponse:
    """Approve or reject every selected cost with one comment, each through the service
    (so each gets its own audit event). Costs that cannot be decided are reported by id."""
    back = _next_url(request, reverse("costs:inbox"))
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return HttpResponseRedirect(back)
    decision = form.cleaned_data["decision"]
    comment = form.cleaned_data["comment"]
    ids = sorted(set(form.cleaned_data["costs"]))
    visible = {c.pk: c for c in selectors.cost_list(user=request.user).filter(pk__in=ids)}
    done: list[int] = []
    failed: list[str] = []
    for pk in ids:
        cost = visible.get(pk)
        if cost is None:
            failed.append(f"#{pk}: no such cost.")
            continue
        try:
            run_action(action=decision, cost=cost, user=request.user, comment=comment)
        except ApplicationError as exc:
            failed.append(f"#{pk}: {exc.message}")
        else:
            done.append(pk)
    if done:
        numbers = ", ".join(f"#{pk}" for pk in done)
        messages.success(request, f"{len(done)} cost(s) {ACTION_DONE[decision]}: {numbers}.")
    if failed:
        messages.error(
            request,
            f"{len(failed)} cost(s) could not be {ACTION_DONE[decision]}: {' '.join(failed)}",
        )
    return HttpResponseRedirect(back)


# --- cost detail -----------------------------------------------------------------------


def _change_lines(changes: dict) -> list[dict[str, str]]:
    lines = []
    for name, value in (changes or {}).items():
        if isinstance(value, list) and len(value) == 2:
            old, new = value
            lines.append({"field": name, "old": _plain(old), "new": _plain(new)})
        else:
            lines.append({"field": name, "old": "", "new": _plain(value)})
    return lines


def _plain(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def available_actions(user, cost: Cost) -> list[str]:
    if is_read_only(user):
        return []
    actions = []
    if cost.status == Cost.Status.PENDING and can_decide(user, cost):
        actions += ["approve", "reject"]
    owner = user.pk == cost.submitted_by_id or is_finance(user)
    if owner:
        if cost.status == Cost.Status.DRAFT:
            actions.append("submit")
        if cost.status == Cost.Status.REJECTED:
            actions.append("revise")
        if cost.status in (Cost.Status.DRAFT, Cost.Status.PENDING, Cost.Status.REJECTED):
            actions.append("cancel")
    if cost.status == Cost.Status.APPROVED and is_finance(user):
        actions.append("void")
    return actions


@login_required
@require_GET
def cost_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """``/costs/<id>/``: the cost, its audit trail and the actions the user may take."""
    try:
        cost = selectors.cost_detail(user=request.user, cost_id=pk)
    except NotFound:
        raise Http404("No such cost.") from None
    events = [
        {"event": event, "changes": _change_lines(event.changes)} for event in cost.events.all()
    ]
    return render(
        request,
        "costs/detail.html",
        {
            "cost": cost,
            "events": events,
            "actions": available_actions(request.user, cost),
            "comment_form": CommentForm(),
            "void_form": VoidForm(),
            "reporting_currency": reporting_currency(),
            "can_override": is_finance(request.user),
        },
    )


@login_required
@require_POST
def cost_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """POST ``/costs/<id>/<action>/``: run one transition through its service."""
    if action not in ACTIONS:
        raise Http404("No such action.")
    cost = _visible_cost(request.user, pk)
    back = _next_url(request, reverse("costs:detail", args=[cost.pk]))
    form = VoidForm(request.POST) if action == "void" else CommentForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, f"Cost #{cost.pk} was not {ACTION_DONE[action]}: {_form_errors(form)}"
        )
        return HttpResponseRedirect(back)
    text = form.cleaned_data["reason" if action == "void" else "comment"]
    try:
        result = run_action(
            action=action,
            cost=cost,
            user=request.user,
            comment=text,
            override_reason=form.cleaned_data.get("override_reason", ""),
        )
    except ApplicationError as exc:
        messages.error(request, f"Cost #{cost.pk} was not {ACTION_DONE[action]}: {exc.message}")
    else:
        messages.success(request, f"Cost #{cost.pk} {ACTION_DONE[action]}.")
        for text in warning_texts(result):
            messages.warning(request, f"Cost #{cost.pk}: {text}")
    return HttpResponseRedirect(back)
