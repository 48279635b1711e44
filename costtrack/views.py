"""Project-level pages: the dashboard landing page and a health check."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from orgunits.selectors import unit_list


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    units = unit_list(user=request.user).filter(level__lte=1)[:50]
    return render(request, "dashboard.html", {"units": units})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
