"""Pages: my notifications (unread first), mark read / all read, my preferences."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from costtrack.core.exceptions import ValidationError
from costtrack.core.pagination import CappedCountPaginator

from . import selectors, services
from .kinds import Kind
from .models import Channel

PAGE_SIZE = 50


@login_required
@require_http_methods(["GET", "HEAD"])
def notification_list(request: HttpRequest) -> HttpResponse:
    page = CappedCountPaginator(selectors.notification_list(user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "notifications/list.html", {"page": page})


@login_required
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification = selectors.notification_get(user=request.user, notification_id=pk)
    if notification is None:
        raise Http404("Notification not found.")
    services.mark_read(notification=notification, user=request.user)
    if request.POST.get("open") and _is_local(request, notification.link):
        return redirect(notification.link)
    return redirect("notifications:list")


def _is_local(request: HttpRequest, link: str) -> bool:
    # "//host/..." starts with "/" too but leaves the site: only this host's paths are followed
    return link.startswith("/") and url_has_allowed_host_and_scheme(
        link, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


@login_required
@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    count = services.mark_all_read(user=request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
    return redirect("notifications:list")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        chosen = {kind: request.POST.get(kind) for kind in Kind.values if kind in request.POST}
        try:
            services.preferences_set(user=request.user, preferences=chosen)
        except ValidationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Preferences saved.")
            return redirect("notifications:preferences")
    current = selectors.preferences_for(user=request.user)
    rows = [
        {"kind": kind, "label": label, "channel": current[kind]} for kind, label in Kind.choices
    ]
    return render(
        request,
        "notifications/preferences.html",
        {"rows": rows, "channels": Channel.choices},
    )
