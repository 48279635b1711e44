from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("org-units", api.OrganizationUnitViewSet, basename="org-unit")
router.register("entities", api.EntityViewSet, basename="entity")
router.register("resources", api.ResourceViewSet, basename="resource")

urlpatterns = router.urls
