"""List pagination that never counts a whole table.

API lists answer ``?limit=&offset=`` with ``count``, ``next``, ``previous`` and ``results``.
``count`` is exact up to ``COSTTRACK_LIST_COUNT_CAP`` rows (default 10,000); past it the
database stops counting, ``count`` is a lower bound and the body adds ``count_capped: true``.
Big lists also take ``?cursor=`` (empty for the first page): pages by id, newest first,
whose ``next`` and ``previous`` links cost the same at any depth.

Pages and the admin use ``CappedCountPaginator`` the same way.
"""

from collections.abc import Sequence
from functools import cached_property

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.pagination import LimitOffsetPagination as DRFLimitOffsetPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

DEFAULT_COUNT_CAP = 10_000


def count_cap() -> int:
    return int(getattr(settings, "COSTTRACK_LIST_COUNT_CAP", DEFAULT_COUNT_CAP))


def capped_count(rows: QuerySet | Sequence, cap: int) -> tuple[int, bool]:
    """``(count, capped)``: the number of ``rows`` if at most ``cap``, else ``(cap, True)``.

    A queryset is counted as ``SELECT COUNT(*) FROM (... LIMIT cap + 1)`` without its
    ordering, so PostgreSQL stops reading after ``cap + 1`` matching rows.
    """
    found = rows.order_by()[: cap + 1].count() if isinstance(rows, QuerySet) else len(rows)
    return (cap, True) if found > cap else (found, False)


class CappedCountPaginator(Paginator):
    """A Django paginator whose ``count`` stops at ``cap`` rows (``capped`` says so); pages
    past the cap are not offered, filters narrow the list instead."""

    def __init__(self, object_list, per_page, *args, cap: int | None = None, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        self.cap = count_cap() if cap is None else cap
        self.capped = False

    @cached_property
    def count(self) -> int:
        count, self.capped = capped_count(self.object_list, self.cap)
        return count

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        # a capped count is a lower bound: never cut the last page at it
        if not self.capped and top + self.orphans >= self.count:
            top = self.count
        return self._get_page(self.object_list[bottom:top], number, self)


def _count_schema(schema: dict) -> dict:
    schema["properties"]["count"]["description"] = (
        "Matching rows, exact up to the count cap; a lower bound when count_capped is true."
    )
    schema["properties"]["count_capped"] = {
        "type": "boolean",
        "description": "Present (true) only when more rows match than were counted.",
    }
    return schema


class LimitOffsetPagination(DRFLimitOffsetPagination):
    """``?limit=&offset=`` with ``count`` (capped), ``next``, ``previous``, ``results``, and
    ``count_capped: true`` when the count stopped at the cap.

    Rows are counted up to ``max(cap, offset + limit) + 1``, so a page deep in a long list
    still gets its ``next`` link while ``count`` stays a lower bound."""

    default_limit = 50
    max_limit = 500
    # past any table's size, and far below PostgreSQL's bigint LIMIT: a larger offset is an
    # empty page, not an overflow
    max_offset = 10**12

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), self.max_offset)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        if self.limit is None:
            return None
        # the offset first: it decides how far the count has to look
        self.offset = self.get_offset(request)
        self.count, self.count_capped = capped_count(
            queryset, max(count_cap(), self.offset + self.limit)
        )
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        if self.count == 0 or self.offset > self.count:
            return []
        return list(queryset[self.offset : self.offset + self.limit])

    def get_next_link(self):
        if self.count_capped:
            # more rows match than were counted: there is a next page
            url = replace_query_param(
                self.request.build_absolute_uri(), self.limit_query_param, self.limit
            )
            return replace_query_param(url, self.offset_query_param, self.offset + self.limit)
        return super().get_next_link()

    def get_paginated_response(self, data):
        body = {"count": self.count}
        if self.count_capped:
            # only then: an exact count keeps the shape every client already knows
            body["count_capped"] = True
        body.update(next=self.get_next_link(), previous=self.get_previous_link(), results=data)
        return Response(body)

    def get_paginated_response_schema(self, schema):
        return _count_schema(super().get_paginated_response_schema(schema))


class _IdCursorPagination(CursorPagination):
    """DRF's cursor pagination on the primary key (an index every table has)."""

    ordering = "-id"
    page_size_query_param = "limit"
    max_page_size = LimitOffsetPagination.max_limit
    page_size = LimitOffsetPagination.default_limit

    def get_ordering(self, request, queryset, view):
        ordering = request.query_params.get("ordering") or self.ordering
        if ordering not in ("id", "-id"):
            raise ValidationError(
                {
                    "ordering": [
                        "Cursor pages are ordered by id: use ordering=id or -id, "
                        "or page with limit/offset."
                    ]
                }
            )
        return (ordering,)


class CursorOrLimitOffsetPagination(LimitOffsetPagination):
    """For the big lists: ``?cursor=`` (empty for the first page) switches to cursor pages
    by id, newest first (``ordering=id`` for oldest first); otherwise ``limit``/``offset``
    as everywhere. Both answer ``count`` (capped; ``count_capped: true`` when it stopped),
    ``next``, ``previous``, ``results``."""

    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self._cursor = None
        if self.cursor_query_param not in request.query_params or not isinstance(
            queryset, QuerySet
        ):
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        self._cursor = _IdCursorPagination()
        page = self._cursor.paginate_queryset(queryset, request, view)
        self.count, self.count_capped = capped_count(queryset, count_cap())
        return page

    def get_next_link(self):
        return self._cursor.get_next_link() if self._cursor else super().get_next_link()

    def get_previous_link(self):
        if self._cursor:
            return self._cursor.get_previous_link()
        return super().get_previous_link()

    def get_schema_operation_parameters(self, view):
        cursor = {
            "name": self.cursor_query_param,
            "required": False,
            "in": "query",
            "description": "Cursor pages by id (empty for the first page); follow next.",
            "schema": {"type": "string"},
        }
        return [*super().get_schema_operation_parameters(view), cursor]
