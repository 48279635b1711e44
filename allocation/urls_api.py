from costtrack.core.routers import ApiRouter

from . import api, economics_api

router = ApiRouter()
router.register("allocation/nodes", api.CostNodeViewSet, basename="allocation-node")
router.register("allocation/edges", api.AllocationEdgeViewSet, basename="allocation-edge")
router.register("allocation/usage", api.UsageRecordViewSet, basename="allocation-usage")
router.register("allocation/runs", api.AllocationRunViewSet, basename="allocation-run")
router.register("revenue", economics_api.RevenueViewSet, basename="revenue")

urlpatterns = router.urls
