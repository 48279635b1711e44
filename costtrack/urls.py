from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from costtrack import economics_views, explorer_views, views
from costtrack.budget_variance import BudgetVarianceView

api_v1 = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("", include("orgunits.urls_api")),
    path("", include("costs.urls_api")),
    path("", include("costs.urls_reports")),
    path("", include("costs.urls_periods")),
    path("reports/budget-variance/", BudgetVarianceView.as_view(), name="report-budget-variance"),
    path("", include("budgets.urls_api")),
    path("", include("costs.imports.urls")),
    path("", include("notifications.urls_api")),
    path("", include("allocation.urls_api")),
    path("", include("recommendations.urls_api")),
]

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("units/<int:pk>/", views.unit_dashboard, name="unit-dashboard"),
    path("resources/<int:pk>/", views.resource_dashboard, name="resource-dashboard"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("budgets/", include("budgets.urls")),
    path("notifications/", include("notifications.urls")),
    path("allocation/pnl/", economics_views.pnl_page, name="allocation-pnl"),
    path("allocation/products/<int:pk>/", economics_views.product_page, name="allocation-product"),
    path("allocation/", include("allocation.urls")),
    path("costs/", explorer_views.cost_explorer, name="cost-explorer"),
    path("costs/csv/", explorer_views.cost_explorer_csv, name="cost-explorer-csv"),
    path("recommendations/", include("recommendations.urls")),
    path("", include("costs.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", views.healthz, name="healthz"),
]

# Under /api/ an unknown route (or an id that is not a whole number) and a body Django
# refused answer JSON; pages keep Django's own responses.
handler400 = "costtrack.core.api.api_bad_request"
handler404 = "costtrack.core.api.api_not_found"
