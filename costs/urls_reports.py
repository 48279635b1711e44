"""Report routes under /api/v1/ (the org-unit rollup lives beside the org-units API)."""

from django.urls import path

from . import report_api

urlpatterns = [
    path("reports/summary/", report_api.SummaryView.as_view(), name="report-summary"),
    path("reports/costs/", report_api.CostReportView.as_view(), name="report-costs"),
    path("org-units/<int:pk>/rollup/", report_api.RollupView.as_view(), name="org-unit-rollup"),
]
