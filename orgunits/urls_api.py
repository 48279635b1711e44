from costtrack.core.routers import ApiRouter

from . import api

router = ApiRouter()
router.register("org-units", api.OrganizationUnitViewSet, basename="org-unit")
router.register("entities", api.EntityViewSet, basename="entity")
router.register("resources", api.ResourceViewSet, basename="resource")

urlpatterns = router.urls
