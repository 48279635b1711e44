"""Pages where members record their own costs: "Record a cost", editing a draft or pending
cost, and "My costs".

Each view validates a form, calls the service the API calls (``costs.services``) and
redirects with a message; a refusal (a budget block, a closed period, a cost that is no
longer editable) is shown on the form with nothing written. Who may book to what, edit
what, or override a block is decided by the selectors and services, never here.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from costtrack.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDenied
from costtrack.core.money import currencies, reporting_currency
from costtrack.core.pagination import CappedCountPaginator
from costtrack.core.roles import is_finance

from . import selectors, services
from .approvers import deciders_of
from .entry_forms import CostEntryForm, MyCostsFilterForm, target_choices
from .models import Cost
from .views import available_actions, warning_texts

MY_COSTS_PAGE_SIZE = 50
EDITABLE = (Cost.Status.DRAFT, Cost.Status.PENDING)


def _status_of(exc: ApplicationError) -> int:
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, Conflict):
        return 409
    return 400


def _refused(form: CostEntryForm, exc: ApplicationError) -> list[dict[str, Any]]:
    """Put a service's refusal on the form; the blocking budgets' figures, if any."""
    if exc.code == "budget_exceeded":
        budgets = exc.extra.get("budgets", [])
        names = ", ".join(f"'{b['name']}'" for b in budgets)
        form.add_error(None, f"Refused: this cost would exceed the budget {names} (see above).")
        return list(exc.extra.get("budgets", []))
    form.add_service_errors({exc.field or "__all__": [exc.message]})
    return []


def _render_form(request, form, *, cost=None, refusal=(), status=200) -> HttpResponse:
    actions = available_actions(request.user, cost) if cost is not None else []
    return render(
        request,
        "costs/record.html",
        {
            "form": form,
            "cost": cost,
            "targets": target_choices(request.user),
            "currencies": sorted(currencies()),
            "refusal": list(refusal),
            "tag_rows": form.rows("tag"),
            "metadata_rows": form.rows("metadata"),
            "reporting_currency": reporting_currency(),
            "actions": actions,
            # what the page offers; the services decide (the submitter or finance, a draft or
            # pending cost)
            "not_editable": cost is not None
            and (cost.status not in EDITABLE or "cancel" not in actions),
        },
        status=status,
    )


def _done(request, cost: Cost, verb: str, warnings: list[str]) -> HttpResponseRedirect:
    messages.success(request, f"Cost #{cost.pk} {verb}.")
    for text in warnings:
        messages.warning(request, f"Cost #{cost.pk}: {text}")
    if cost.status == Cost.Status.DRAFT:
        return HttpResponseRedirect(reverse("costs:edit", args=[cost.pk]))
    return HttpResponseRedirect(reverse("costs:detail", args=[cost.pk]))


@login_required
@require_http_methods(["GET", "POST"])
def cost_new(request: HttpRequest) -> HttpResponse:
    """``/costs/new/``: record a cost as a draft ("Save draft") or for approval ("Submit")."""
    can_override = is_finance(request.user)
    if request.method == "GET":
        return _render_form(request, CostEntryForm(request=request, can_override=can_override))
    form = CostEntryForm(request.POST, request=request, can_override=can_override)
    if not form.is_valid():
        return _render_form(request, form, status=400)
    draft = request.POST.get("save") != "submit"
    try:
        result = services.cost_create(
            submitted_by=request.user,
            source=Cost.Source.MANUAL,
            draft=draft,
            comment=form.cleaned_data.get("comment", ""),
            override_reason=form.cleaned_data.get("override_reason") or None,
            **form.validated,
        )
    except ApplicationError as exc:
        refusal = _refused(form, exc)
        return _render_form(request, form, refusal=refusal, status=_status_of(exc))
    verb = "saved as a draft" if draft else "submitted for approval"
    return _done(request, result.cost, verb, warning_texts(result))


@login_required
@require_http_methods(["GET", "POST"])
def cost_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """``/costs/<id>/edit/``: change a draft or pending cost; a draft may be submitted.

    A draft submitted from here is saved first: when the submission is refused the changes
    stay in the draft, and the form says so."""
    try:
        cost = selectors.cost_get(user=request.user, cost_id=pk)
    except NotFound:
        raise Http404("No such cost.") from None
    can_override = is_finance(request.user)
    if request.method == "GET":
        form = CostEntryForm(request=request, instance=cost, can_override=can_override)
        return _render_form(request, form, cost=cost)
    form = CostEntryForm(request.POST, request=request, instance=cost, can_override=can_override)
    if not form.is_valid():
        return _render_form(request, form, cost=cost, status=400)
    submit = request.POST.get("save") == "submit"
    comment = form.cleaned_data.get("comment", "")
    override = form.cleaned_data.get("override_reason") or None
    try:
        result = services.cost_update(
            cost=cost,
            acting_user=request.user,
            comment="" if submit else comment,
            override_reason=override,
            **form.validated,
        )
    except ApplicationError as exc:
        refusal = _refused(form, exc)
        return _render_form(request, form, cost=cost, refusal=refusal, status=_status_of(exc))
    cost = result.cost
    warnings = warning_texts(result)
    if not submit or cost.status != Cost.Status.DRAFT:
        return _done(request, cost, "saved", warnings)
    try:
        submitted = services.cost_submit(
            cost=cost, acting_user=request.user, comment=comment, override_reason=override
        )
    except ApplicationError as exc:
        refusal = _refused(form, exc)
        form.add_error(None, "Your changes are saved in the draft; it was not submitted.")
        cost = selectors.cost_get(user=request.user, cost_id=pk)
        return _render_form(request, form, cost=cost, refusal=refusal, status=_status_of(exc))
    warnings += warning_texts(submitted)
    return _done(request, submitted.cost, "submitted for approval", warnings)


@login_required
@require_GET
def my_costs(request: HttpRequest) -> HttpResponse:
    """``/costs/mine/``: the costs the user submitted, newest first, with who must decide
    them (pending), or who decided and what they said."""
    form = MyCostsFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        costs = Cost.objects.none()
    else:
        costs = selectors.cost_list(user=request.user, filters=form.api_filters())
    page = CappedCountPaginator(costs, MY_COSTS_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    pending = [c for c in rows if c.status == Cost.Status.PENDING]
    deciders = deciders_of(pending)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "costs/mine.html",
        {
            "form": form,
            "rows": [{"cost": c, "deciders": deciders.get(c.pk)} for c in rows],
            "page": page,
            "filter_query": query.urlencode(),
            "reporting_currency": reporting_currency(),
        },
    )
