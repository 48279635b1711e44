"""The costs tests' small organisation (``org``), a fixed clock, and the figures helpers.

acme (owner ceo) ── eng (owner eng_owner) ── platform (no owner; member ``member``)
                 └─ sales (owner sales_owner; member ``sales_member``)
"""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.costs.conftest import org  # noqa: F401  (the shared fixture)

D = Decimal
DAY = date(2025, 3, 29)
NOW = timezone.make_aware(datetime(2025, 3, 29, 12, 0))


def baseline_days(day: date = DAY):
    """The 28 days before ``day``, oldest first."""
    return [day - timedelta(days=n) for n in range(28, 0, -1)]


@pytest.fixture
def now():
    return NOW
