"""The router every API app registers its viewsets with.

Object ids are integers: a route's id segment only matches digits, so ``/recurring-costs/abc/``
is a JSON 404 (``costtrack.core.api.api_not_found``) instead of reaching a query that cannot
compare an id with ``'abc'``. A viewset that looks objects up by something else sets its own
``lookup_value_regex``.
"""

from rest_framework.routers import DefaultRouter, SimpleRouter

INTEGER_ID = "[0-9]+"


class _IntegerIdMixin:
    def get_lookup_regex(self, viewset, lookup_prefix=""):
        if not hasattr(viewset, "lookup_value_regex") and getattr(
            viewset, "lookup_field", "pk"
        ) in ("pk", "id"):
            lookup_url_kwarg = getattr(viewset, "lookup_url_kwarg", None) or getattr(
                viewset, "lookup_field", "pk"
            )
            return f"(?P<{lookup_prefix}{lookup_url_kwarg}>{INTEGER_ID})"
        return super().get_lookup_regex(viewset, lookup_prefix)


class ApiRouter(_IntegerIdMixin, DefaultRouter):
    include_root_view = False

    def __init__(self, **kwargs):
        kwargs.setdefault("trailing_slash", True)
        super().__init__(**kwargs)


class ApiSimpleRouter(_IntegerIdMixin, SimpleRouter):
    pass
