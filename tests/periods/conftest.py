"""Fixtures for recurring costs and accounting periods: the costs tests' small organisation."""

from tests.costs.conftest import eur_rates, org  # noqa: F401
