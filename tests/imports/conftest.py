"""Shared set-up of the billing import tests: sample files, an importer, rates, a unit."""

import csv
import gzip
import io
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from costs.imports import services
from costs.models import ExchangeRate
from tests.orgunits.factories import OrganizationUnitFactory, UserFactory, finance_user

DATA = Path(__file__).resolve().parent.parent / "data" / "focus"
SAMPLES = ("aws.csv", "azure.csv", "gcp.csv", "kubernetes.csv")


def sample_bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def csv_totals(content: bytes, *, column: str = "EffectiveCost") -> dict[tuple, Decimal]:
    """Totals per (sub-account, service, day) computed straight from the CSV."""
    totals: dict[tuple, Decimal] = defaultdict(Decimal)
    for row in csv.DictReader(io.StringIO(content.decode())):
        key = (row["SubAccountId"], row["ServiceName"], row["ChargePeriodStart"][:10])
        totals[key] += Decimal(row[column])
    return {k: v for k, v in totals.items() if v != 0}


def rows_of(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def to_csv(rows: list[dict[str, str]], columns: list[str] | None = None) -> bytes:
    columns = columns or list(rows[0])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def gz(content: bytes) -> bytes:
    return gzip.compress(content, mtime=0)


@pytest.fixture
def importer(db):
    return finance_user(username="importer")


@pytest.fixture
def landing(db):
    """The default unit for rows no rule places, with an owner who approves them."""
    owner = UserFactory(username="landing-owner")
    return OrganizationUnitFactory(code="cloud", name="Cloud", owner=owner)


@pytest.fixture
def eur_rates(db):
    ExchangeRate.objects.create(currency="EUR", date=date(2024, 2, 28), rate=Decimal("1.08"))
    ExchangeRate.objects.create(currency="EUR", date=date(2024, 3, 15), rate=Decimal("1.09"))


@pytest.fixture
def run(importer, landing):
    """``run(content, name=..., user=..., unit=...)``: import bytes now, return the batch."""

    def do(content: bytes, *, name: str = "export.csv", user=None, unit=None, **kwargs):
        return services.import_file(
            source=io.BytesIO(content),
            file_name=name,
            acting_user=user or importer,
            unit=unit if unit is not None else landing,
            **kwargs,
        )

    return do
