"""Page: ``/recommendations/`` — what to fix first, by kind, with a dismiss form each."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from costtrack.core.exceptions import ApplicationError, NotFound
from costtrack.core.pagination import CappedCountPaginator

from . import selectors, services
from .models import Kind, Status
from .summaries import evidence_summary

PAGE_SIZE = 50


@login_required
@require_http_methods(["GET", "HEAD"])
def recommendation_list(request: HttpRequest) -> HttpResponse:
    """``?kind=&status=`` (status defaults to open; ``all`` for every status)."""
    kind = request.GET.get("kind") or ""
    if kind not in Kind.values:
        kind = ""
    status = request.GET.get("status") or Status.OPEN
    if status not in [*Status.values, "all"]:
        status = Status.OPEN
    queryset = selectors.recommendation_list(
        user=request.user, kind=kind or None, status=None if status == "all" else status
    )
    page = CappedCountPaginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    for rec in page.object_list:
        rec.summary = evidence_summary(rec)
        rec.may_dismiss = rec.status == Status.OPEN and selectors.recommendation_may_manage(
            user=request.user, recommendation=rec
        )
    return render(
        request,
        "recommendations/list.html",
        {
            "page": page,
            "open_counts": _open_counts(request.user),
            "kinds": Kind.choices,
            "statuses": [*Status.choices, ("all", "All")],
            "kind": kind,
            "status": status,
        },
    )


@login_required
@require_POST
def recommendation_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        recommendation = selectors.recommendation_get(user=request.user, recommendation_id=pk)
    except NotFound:
        raise Http404("No such recommendation.") from None
    try:
        services.recommendation_dismiss(
            recommendation=recommendation,
            reason=request.POST.get("reason", ""),
            acting_user=request.user,
        )
    except ApplicationError as exc:
        if exc.status_code == 403:
            raise DjangoPermissionDenied(exc.message) from None
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Dismissed: {recommendation.title}")
    return redirect("recommendations:list")


def _open_counts(user) -> list[tuple[str, int]]:
    counts = selectors.recommendation_counts(user=user)
    return [(label, counts[value]) for value, label in Kind.choices]
