from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("costs", api.CostViewSet, basename="cost")
router.register("categories", api.CostCategoryViewSet, basename="category")
router.register("exchange-rates", api.ExchangeRateViewSet, basename="exchange-rate")

urlpatterns = router.urls
