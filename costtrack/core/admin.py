"""Admin pieces shared by every app."""

from .pagination import CappedCountPaginator
from .roles import is_finance, is_read_only


class LargeListAdminMixin:
    """For tables of millions of rows: the changelist counts at most
    ``COSTTRACK_LIST_COUNT_CAP`` matching rows and never the whole table."""

    paginator = CappedCountPaginator
    show_full_result_count = False


class ReadOnlyForAuditorsMixin:
    """Auditors read everything and change nothing: whatever Django permissions they were
    given, their admin pages are view-only (the services refuse their writes as well)."""

    def has_add_permission(self, request, *args, **kwargs):
        if is_read_only(request.user):
            return False
        return super().has_add_permission(request, *args, **kwargs)

    def has_change_permission(self, request, obj=None):
        if is_read_only(request.user):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if is_read_only(request.user):
            return False
        return super().has_delete_permission(request, obj)


class FinanceWritesMixin(ReadOnlyForAuditorsMixin):
    """Only finance adds, changes and deletes (auditors never: ``is_finance`` is false for
    them); other staff may at most view, whatever Django permissions they hold."""

    def has_add_permission(self, request, *args, **kwargs):
        return is_finance(request.user) and super().has_add_permission(request, *args, **kwargs)

    def has_change_permission(self, request, obj=None):
        return is_finance(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_finance(request.user) and super().has_delete_permission(request, obj)
