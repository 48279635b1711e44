"""Billing import API routes, included under /api/v1/."""

from django.urls import path

from costtrack.core.routers import ApiSimpleRouter

from . import api

router = ApiSimpleRouter()
router.register("imports/rules", api.MappingRuleViewSet, basename="import-rule")

urlpatterns = [
    path("imports/", api.ImportListCreateApi.as_view(), name="import-list"),
    path("imports/awaiting/", api.ImportGroupsAwaitingApi.as_view(), name="import-awaiting"),
    path("imports/<int:pk>/", api.ImportDetailApi.as_view(), name="import-detail"),
    path("imports/<int:pk>/decide/", api.ImportDecideApi.as_view(), name="import-decide"),
    path("imports/<int:pk>/place/", api.ImportPlaceApi.as_view(), name="import-place"),
    *router.urls,
]
