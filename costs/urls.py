"""Pages of the costs app: the approval inbox and cost detail (included at the site root)."""

from django.urls import path

from . import views

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
    path("costs/<int:pk>/", views.cost_detail, name="detail"),
    path("costs/<int:pk>/<slug:action>/", views.cost_action, name="action"),
]
