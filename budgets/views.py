"""Pages of the budgets app: every budget the user may read, with utilisation bars."""

from datetime import date

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from costtrack.core.roles import is_finance

from . import selectors


def _day(raw: str | None) -> date:
    try:
        return date.fromisoformat(raw) if raw else timezone.localdate()
    except ValueError:
        return timezone.localdate()


@login_required
@require_GET
def budget_list(request: HttpRequest) -> HttpResponse:
    on = _day(request.GET.get("on"))
    bars = selectors.visible_budget_bars(
        user=request.user, on=None if on == timezone.localdate() else on
    )
    return render(
        request,
        "budgets/list.html",
        {"budget_bars": bars, "on": on, "can_manage": is_finance(request.user)},
    )
