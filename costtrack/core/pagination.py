from rest_framework.pagination import LimitOffsetPagination as DRFLimitOffsetPagination


class LimitOffsetPagination(DRFLimitOffsetPagination):
    """``?limit=&offset=`` with ``count``, ``next``, ``previous``, ``results``."""

    default_limit = 50
    max_limit = 500
