from django.urls import path
from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("budgets", api.BudgetViewSet, basename="budget")

urlpatterns = [
    path("users/me/budgets/", api.MyBudgetsView.as_view(), name="my-budgets"),
    *router.urls,
]
