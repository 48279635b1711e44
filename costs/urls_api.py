from costtrack.core.routers import ApiRouter

from . import api

router = ApiRouter()
router.register("costs", api.CostViewSet, basename="cost")
router.register("categories", api.CostCategoryViewSet, basename="category")
router.register("exchange-rates", api.ExchangeRateViewSet, basename="exchange-rate")

urlpatterns = router.urls
