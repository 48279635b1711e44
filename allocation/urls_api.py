from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("allocation/nodes", api.CostNodeViewSet, basename="allocation-node")
router.register("allocation/edges", api.AllocationEdgeViewSet, basename="allocation-edge")
router.register("allocation/usage", api.UsageRecordViewSet, basename="allocation-usage")
router.register("allocation/runs", api.AllocationRunViewSet, basename="allocation-run")

urlpatterns = router.urls
