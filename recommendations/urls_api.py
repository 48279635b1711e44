from django.urls import path

from . import api

urlpatterns = [
    path("recommendations/", api.RecommendationListApi.as_view(), name="recommendation-list"),
    path(
        "recommendations/compute/",
        api.RecommendationComputeApi.as_view(),
        name="recommendation-compute",
    ),
    path(
        "recommendations/<int:pk>/",
        api.RecommendationDetailApi.as_view(),
        name="recommendation-detail",
    ),
    path(
        "recommendations/<int:pk>/dismiss/",
        api.RecommendationDismissApi.as_view(),
        name="recommendation-dismiss",
    ),
]
