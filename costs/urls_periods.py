from rest_framework.routers import DefaultRouter

from . import period_api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("recurring-costs", period_api.RecurringCostViewSet, basename="recurring-cost")
router.register("periods", period_api.PeriodViewSet, basename="period")

urlpatterns = router.urls
