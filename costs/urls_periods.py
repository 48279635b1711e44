from costtrack.core.routers import ApiRouter

from . import period_api

router = ApiRouter()
router.register("recurring-costs", period_api.RecurringCostViewSet, basename="recurring-cost")
router.register("periods", period_api.PeriodViewSet, basename="period")

urlpatterns = router.urls
