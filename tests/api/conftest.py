"""The API-wide tests reuse the costs organisation (tests/costs/conftest.py)."""

import pytest

from tests.costs.conftest import org  # noqa: F401  (a fixture)


@pytest.fixture
def row_counts():
    """``row_counts()``: rows of every table a write could touch, to assert nothing changed."""
    from django.apps import apps

    models = [
        m
        for m in apps.get_models()
        if m._meta.app_label in {"orgunits", "costs", "budgets", "allocation", "notifications"}
    ]

    def snapshot() -> dict[str, int]:
        return {m._meta.label: m._default_manager.count() for m in models}

    return snapshot
