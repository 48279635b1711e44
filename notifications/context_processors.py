from django.utils.functional import SimpleLazyObject

from .selectors import unread_count


def unread_notifications(request):
    """``nav_unread_notifications``: the user's unread count, one query, only if rendered."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_unread_notifications": SimpleLazyObject(lambda: unread_count(user=user))}
