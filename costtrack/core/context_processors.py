from .roles import is_finance, sees_everything


def navigation(request):
    """Role flags the base layout uses to show the right navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_is_finance": is_finance(user), "nav_sees_everything": sees_everything(user)}
