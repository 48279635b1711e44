"""Pages of the costs app: the approval inbox, cost detail, recording and editing a cost and
"My costs" (included at the site root; the explorer at ``/costs/`` is the project's)."""

from django.urls import path

from . import entry_views, views

app_name = "costs"
urlpatterns = [
    path("approvals/", views.approval_inbox, name="inbox"),
    path("approvals/bulk/", views.approval_bulk, name="bulk"),
    path("approvals/<int:pk>/decide/", views.approval_decide, name="decide"),
    path(
        "approvals/imports/<int:batch_id>/decide/",
        views.approval_import_decide,
        name="import-decide",
    ),
    path("costs/new/", entry_views.cost_new, name="new"),
    path("costs/mine/", entry_views.my_costs, name="mine"),
    path("costs/<int:pk>/", views.cost_detail, name="detail"),
    path("costs/<int:pk>/edit/", entry_views.cost_edit, name="edit"),
    path("costs/<int:pk>/<slug:action>/", views.cost_action, name="action"),
]
