from django.urls import path

from costtrack.core.routers import ApiRouter

from . import api

router = ApiRouter()
router.register("budgets", api.BudgetViewSet, basename="budget")

urlpatterns = [
    path("users/me/budgets/", api.MyBudgetsView.as_view(), name="my-budgets"),
    *router.urls,
]
