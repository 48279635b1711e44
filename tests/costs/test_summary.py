"""Seed 001's Python API: record, summary and total, to the cent."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from costs import services
from costs.selectors import cost_summary, cost_total, summary_window
from costs.tracker import CostTracker
from costtrack.core.exceptions import ValidationError
from tests.costs.factories import category

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(org, eur_rates):
    compute = category("compute")
    from costs.services import category_create

    gpu = category_create(name="GPU", slug="gpu", parent=compute)
    llm = category("llm_inference")
    tracker = CostTracker(org.member)
    today = timezone.localdate()
    entries = [
        ("10.10", gpu, org.resource.provider_resource_id, {"team": "a", "env": "prod"}, today),
        ("20.20", compute, None, {"team": "a"}, today),
        ("0.33", llm, org.resource.pk, {"team": "b"}, today),
        ("5.00", llm, None, {}, today - timedelta(days=400)),
    ]
    costs = []
    for amount, cat, resource_id, tags, day in entries:
        cost = tracker.record(
            Decimal(amount), category=cat, resource_id=resource_id, tags=tags, incurred_on=day
        )
        costs.append(services.cost_approve(cost=cost, acting_user=org.fin))
    # pending and a EUR cost (approved) at 1.20
    tracker.record(Decimal("99.99"), category=llm)
    eur = tracker.record(
        Decimal("10.00"), currency="EUR", category=llm, incurred_on=today, tags={"team": "b"}
    )
    costs.append(services.cost_approve(cost=eur, acting_user=org.fin))
    return tracker


def test_summary_shape_and_totals_to_the_cent(org, recorded):
    summary = recorded.get_summary(period="annual")
    start, end = summary_window("annual")
    assert summary == {
        "total": Decimal("42.63"),  # 10.10 + 20.20 + 0.33 + 12.00 (10 EUR at 1.20)
        "by_category": {
            "compute": Decimal("20.20"),
            "gpu": Decimal("10.10"),
            "llm_inference": Decimal("12.33"),
        },
        "by_resource": {"db-1": Decimal("10.43")},
        "by_tag": {
            "env": {"prod": Decimal("10.10")},
            "team": {"a": Decimal("30.30"), "b": Decimal("12.33")},
        },
        "entry_count": 4,
        "period_start": start,
        "period_end": end,
        "currency": "USD",
    }


def test_summary_all_time_and_range(org, recorded):
    assert recorded.get_summary()["total"] == Decimal("47.63")
    today = timezone.localdate()
    old = today - timedelta(days=400)
    summary = recorded.get_summary(start=old, end=old)
    assert summary["total"] == Decimal("5.00") and summary["entry_count"] == 1
    assert summary["period_start"] == old


def test_total_with_category_covers_subcategories(org, recorded):
    assert recorded.get_total() == Decimal("47.63")
    assert recorded.get_total(category="compute") == Decimal("30.30")
    assert recorded.get_total(category="gpu") == Decimal("10.10")
    assert recorded.get_total(period="monthly", category="llm_inference") == Decimal("12.33")
    assert cost_total(category="expenses") == Decimal("47.63")


def test_summary_is_scoped_to_what_the_user_sees(org, recorded):
    assert CostTracker(org.sales_member).get_total() == Decimal("0")
    assert cost_summary(user=org.aud)["total"] == Decimal("47.63")
    assert CostTracker(org.sales_member, see_all=True).get_total() == Decimal("47.63")


def test_windows():
    wednesday = date(2025, 3, 12)
    assert summary_window("hourly", today=wednesday) == (wednesday, wednesday)
    assert summary_window("daily", today=wednesday) == (wednesday, wednesday)
    assert summary_window("weekly", today=wednesday) == (date(2025, 3, 10), date(2025, 3, 16))
    assert summary_window("monthly", today=date(2024, 2, 10)) == (
        date(2024, 2, 1),
        date(2024, 2, 29),
    )
    assert summary_window("annual", today=wednesday) == (date(2025, 1, 1), date(2025, 12, 31))
    with pytest.raises(ValidationError):
        summary_window("fortnightly")


def test_fiscal_year(settings):
    settings.FISCAL_YEAR_START_MONTH = 4
    assert summary_window("annual", today=date(2025, 3, 12)) == (
        date(2024, 4, 1),
        date(2025, 3, 31),
    )


def test_record_unknown_category_or_resource(org):
    tracker = CostTracker(org.member)
    with pytest.raises(ValidationError) as exc:
        tracker.record(Decimal("1"), category="nope", organization_unit=org.platform)
    assert exc.value.field == "category"
    with pytest.raises(ValidationError) as exc:
        tracker.record(Decimal("1"), resource_id="arn:nope")
    assert exc.value.field == "resource"


def test_summary_runs_bounded_queries(org, recorded, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        recorded.get_summary(period="annual")
