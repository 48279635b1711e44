"""Worked examples of the five rules, with their exact figures, and the lifecycle of a
recommendation across recomputations (updated, resolved, dismissed, reopened)."""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings

from allocation import services as allocation_services
from allocation.models import CostNode
from budgets import services as budget_services
from costs.imports import rules as import_rules
from costs.imports import services as import_services
from notifications.models import Notification
from recommendations.models import Recommendation, RecommendationEvent
from recommendations.services import recommendation_dismiss, recommendations_compute
from tests.allocation.factories import approved_cost, edge, usage
from tests.orgunits.factories import ResourceFactory

from .conftest import DAY, NOW, baseline_days

D = Decimal
pytestmark = pytest.mark.django_db


def _recs(kind):
    return {r.key: r for r in Recommendation.objects.filter(kind=kind)}


def _resource(org, name, service, owner=None):
    return ResourceFactory(
        name=name,
        provider_resource_id=f"arn:{name}",
        organization_unit=org.platform,
        service=service,
        owner=owner,
    )


def _series(resource, values, last):
    for day, amount in zip(baseline_days(), values, strict=True):
        approved_cost(amount, resource=resource, incurred_on=day)
    approved_cost(last, resource=resource, incurred_on=DAY)


# --- spikes ------------------------------------------------------------------------------


def test_a_spike_is_found_in_a_seeded_series_with_its_evidence(org):
    # 100 and 110 on alternate days: median 105.00, MAD 5.00 — under its floor of 5 % of the
    # median (5.25) — so the threshold is 105 + 3 · 5.25 = 120.75
    batch = _resource(org, "batch", "emr", owner=org.eng_owner)
    steady = _resource(org, "steady", "ec2", owner=org.eng_owner)
    _series(batch, [100, 110] * 14, 400)
    _series(steady, [100] * 28, 100)

    recommendations_compute(now=NOW)

    spikes = _recs("spike")
    assert set(spikes) == {f"spike:resource:{batch.pk}", f"spike:unit:{org.platform.pk}"}
    spike = spikes[f"spike:resource:{batch.pk}"]
    assert spike.amount == D("295.00")  # 400.00 over the median of 105.00
    assert spike.link == f"/resources/{batch.pk}/"
    assert spike.organization_unit == org.platform
    evidence = spike.evidence
    assert (evidence["day"], evidence["amount"], evidence["baseline_median"]) == (
        "2025-03-29",
        "400.00",
        "105.00",
    )
    assert (evidence["mad"], evidence["mad_used"]) == ("5.00", "5.25")
    assert (evidence["k"], evidence["threshold"]) == ("3", "120.75")
    assert evidence["top_contributors"] == [{"name": "compute", "amount": "400.00", "link": ""}]
    # the unit: 200/210 a day (median 205.00, MAD 5.00), 500.00 on the day; explained by the
    # resource that spiked first
    unit = spikes[f"spike:unit:{org.platform.pk}"]
    assert unit.amount == D("295.00")
    assert unit.link == f"/units/{org.platform.pk}/"
    assert [c["name"] for c in unit.evidence["top_contributors"]] == ["batch", "steady"]
    assert unit.evidence["top_contributors"][0]["link"] == f"/resources/{batch.pk}/"


def test_a_flat_series_gives_no_spike(org):
    # MAD 0: the floor (5 % of the median, 5.00) puts the threshold at 115.00
    flat = _resource(org, "flat", "ec2", owner=org.eng_owner)
    _series(flat, [100] * 28, 114)
    recommendations_compute(now=NOW)
    assert _recs("spike") == {}


@override_settings(COSTTRACK_RECOMMENDATION_SPIKE_K=D("60"))
def test_k_is_a_setting(org):
    batch = _resource(org, "batch", "emr", owner=org.eng_owner)
    _series(batch, [100, 110] * 14, 400)  # threshold 105 + 60 · 5.25 = 420.00
    recommendations_compute(now=NOW)
    assert _recs("spike") == {}


def test_a_service_spike_needs_two_resources_and_names_them(org):
    a = _resource(org, "a", "emr", owner=org.eng_owner)
    b = _resource(org, "b", "emr", owner=org.eng_owner)
    _series(a, [50, 55] * 14, 300)
    _series(b, [50, 55] * 14, 55)
    recommendations_compute(now=NOW)
    service = Recommendation.objects.get(key="spike:service:emr")
    # 100/110 a day: median 105.00, MAD 5.00; 355.00 on the day
    assert service.amount == D("250.00")
    assert service.organization_unit is None  # a service spans units: finance only
    assert [c["name"] for c in service.evidence["top_contributors"]] == ["a", "b"]


# --- idle and orphaned resources --------------------------------------------------------


def test_an_idle_resource_is_found_and_a_used_one_is_not(org):
    idle = _resource(org, "idle-vm", "ec2", owner=org.eng_owner)
    used = _resource(org, "busy-vm", "ec2", owner=org.eng_owner)
    unowned = _resource(org, "stray-bucket", "s3")  # no owner, platform has no owner
    approved_cost("250.00", resource=idle, incurred_on=DAY - timedelta(days=3))
    approved_cost("80.00", resource=used, incurred_on=DAY - timedelta(days=3))
    approved_cost("12.34", resource=unowned, incurred_on=DAY - timedelta(days=40))  # too old
    approved_cost("7.50", resource=unowned, incurred_on=DAY)
    idle_node = CostNode.objects.create(name="idle", kind="resource", resource=idle)
    used_node = CostNode.objects.create(name="busy", kind="resource", resource=used)
    usage(used_node, "cpu_hours", 10, day=DAY - timedelta(days=2))
    usage(idle_node, "cpu_hours", 10, day=DAY - timedelta(days=45))  # before the window

    recommendations_compute(now=NOW)

    found = _recs("idle_resource")
    assert set(found) == {
        f"idle_resource:resource:{idle.pk}",
        f"idle_resource:resource:{unowned.pk}",
    }
    rec = found[f"idle_resource:resource:{idle.pk}"]
    assert rec.amount == D("250.00")
    assert rec.evidence["reasons"] == ["no_usage"]
    assert rec.evidence["window_start"] == "2025-02-28"
    assert rec.link == f"/resources/{idle.pk}/"
    stray = found[f"idle_resource:resource:{unowned.pk}"]
    assert stray.amount == D("7.50")
    assert stray.evidence["reasons"] == ["not_in_allocation", "no_owner"]


# --- unallocated cost --------------------------------------------------------------------


def test_unallocated_cost_of_a_shared_node_to_the_cent(org):
    vpn = _resource(org, "vpn", "vpc", owner=org.eng_owner)
    approved_cost("1234.57", resource=vpn, incurred_on=date(2025, 3, 10))
    shared = CostNode.objects.create(name="vpn", kind="shared_service", resource=vpn)
    product = CostNode.objects.create(name="shop", kind="product")
    edge(shared, product, "fixed_percent", {"percent": "60"})
    run = allocation_services.allocation_run(
        period_start=date(2025, 3, 1), period_end=date(2025, 3, 31)
    )
    assert run.status == "succeeded"

    recommendations_compute(now=NOW)

    (rec,) = Recommendation.objects.filter(kind="unallocated_cost")
    # 60 % of 1,234.57 is 740.74 (half-even on the cent); 493.83 stays at the node
    assert rec.amount == D("493.83")
    assert rec.key == f"unallocated_cost:node:{shared.pk}"
    assert rec.link == f"/allocation/?run={run.pk}&node={shared.pk}"
    assert rec.organization_unit == org.platform
    assert rec.evidence["holistic"] == "1234.57"
    assert rec.evidence["allocated_out"] == "740.74"
    assert rec.evidence["coverage_pct"] == "60.00"


# --- budgets forecast to overrun -------------------------------------------------------


def test_a_budget_forecast_to_overrun_with_its_days_left(org):
    budget = budget_services.budget_create(
        name="Platform monthly",
        amount=D("1000.00"),
        currency="USD",
        organization_unit=org.platform,
        acting_user=org.fin,
    )
    calm = budget_services.budget_create(
        name="Sales monthly",
        amount=D("1000.00"),
        currency="USD",
        organization_unit=org.sales,
        acting_user=org.fin,
    )
    approved_cost("600.00", organization_unit=org.platform, incurred_on=date(2025, 3, 10))
    approved_cost("100.00", organization_unit=org.sales, incurred_on=date(2025, 3, 10))
    on_the_15th = NOW.replace(day=15)

    recommendations_compute(now=on_the_15th)

    (rec,) = Recommendation.objects.filter(kind="budget_overrun")
    # 600.00 in 15 of 31 days: forecast 600 · 31 / 15 = 1240.00, 240.00 over
    assert rec.key == f"budget_overrun:{budget.pk}:2025-03-01"
    assert rec.amount == D("240.00")
    assert rec.evidence["forecast"] == "1240.00"
    assert rec.evidence["days_left"] == 16
    assert rec.link == f"/budgets/#budget-{budget.pk}"
    assert calm.pk != budget.pk


# --- untagged spend ----------------------------------------------------------------------

HEADER = (
    "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,"
    "BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargeFrequency,"
    "ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,"
    "PricingQuantity,PricingUnit,ProviderName,PublisherName,RegionId,RegionName,ResourceId,"
    "ResourceName,ResourceType,ServiceCategory,ServiceName,SubAccountId,SubAccountName,Tags,"
    "x_UsageType,x_Operation"
)


def _focus(account, rows):
    lines = [HEADER]
    for i, (cost, tags) in enumerate(rows):
        day = date(2025, 3, 1 + i)
        lines.append(
            f"{cost},{account},Payer {account},USD,2025-04-01T00:00:00Z,2025-03-01T00:00:00Z,"
            f"Usage,,Usage,Usage-Based,{day + timedelta(days=1)}T00:00:00Z,{day}T00:00:00Z,"
            f"{cost},{cost},AWS,{cost},1,Hours,AWS,AWS,eu-west-1,eu-west-1,"
            f"arn:aws:x:eu-west-1:{account}:r-{account}-{i},r{i},Other,Networking,VPC,"
            f'{account},sub,"{tags}",Usage,Run'
        )
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def test_untagged_spend_per_billing_account(org):
    import_rules.mapping_rule_create(
        acting_user=org.fin, name="by team", match_tag_key="team", organization_unit=org.eng
    )
    for account, rows in {
        "111": [
            ("410.00", '{""team"": ""web""}'),
            ("260.00", "{}"),
            ("150.00", '{""env"": ""x""}'),
        ],
        "222": [("99.00", '{""team"": ""web""}')],
    }.items():
        batch = import_services.import_file(
            source=_focus(account, rows),
            file_name=f"{account}.csv",
            acting_user=org.fin,
            unit=org.platform,
            override_reason="test",
        )
        assert batch.status == "succeeded", batch.errors

    recommendations_compute(now=NOW)

    (rec,) = Recommendation.objects.filter(kind="untagged_spend")
    assert rec.key == "untagged_spend:account:111"
    assert rec.amount == D("410.00")  # 260.00 + 150.00 of 820.00 carry no team tag
    assert rec.evidence["untagged_costs"] == 2
    assert rec.evidence["imported"] == "820.00"
    assert rec.evidence["untagged_pct"] == "50.00"
    assert rec.evidence["tag_keys"] == ["team"]
    assert rec.organization_unit == org.platform


def test_no_mapping_rule_on_tags_no_untagged_spend(org):
    batch = import_services.import_file(
        source=_focus("333", [("10.00", "{}")]),
        file_name="333.csv",
        acting_user=org.fin,
        unit=org.platform,
        override_reason="test",
    )
    assert batch.status == "succeeded"
    recommendations_compute(now=NOW)
    assert not Recommendation.objects.filter(kind="untagged_spend").exists()


# --- lifecycle ---------------------------------------------------------------------------


def _idle(org, amount):
    res = _resource(org, "idle-vm", "ec2", owner=org.eng_owner)
    approved_cost(amount, resource=res, incurred_on=DAY)
    return res


def test_recomputing_updates_instead_of_duplicating_and_resolves_what_is_gone(org):
    res = _idle(org, "100.00")
    recommendations_compute(now=NOW)
    approved_cost("20.00", resource=res, incurred_on=DAY)
    recommendations_compute(now=NOW)
    (rec,) = Recommendation.objects.filter(kind="idle_resource")
    assert (rec.amount, rec.status) == (D("120.00"), "open")
    node = CostNode.objects.create(name="idle", kind="resource", resource=res)
    usage(node, "cpu_hours", 1, day=DAY)
    result = recommendations_compute(now=NOW)
    rec.refresh_from_db()
    assert rec.status == "resolved" and result.resolved == 1
    assert Recommendation.objects.count() == 1


def test_a_dismissed_recommendation_is_not_repeated_until_it_grows_past_the_threshold(org):
    res = _idle(org, "100.00")
    recommendations_compute(now=NOW)
    rec = Recommendation.objects.get(kind="idle_resource")
    digests = Notification.objects.filter(kind="recommendations", recipient=org.eng_owner)
    assert digests.count() == 1  # the unit's owner (platform has none: its parent's owner)

    recommendation_dismiss(recommendation=rec, reason="Standby replica", acting_user=org.fin)
    event = RecommendationEvent.objects.get(recommendation=rec)
    assert (event.action, event.actor, event.reason, event.amount) == (
        "dismissed",
        org.fin,
        "Standby replica",
        D("100.00"),
    )

    approved_cost("25.00", resource=res, incurred_on=DAY)  # 125.00: exactly +25 %, not past
    recommendations_compute(now=NOW)
    rec.refresh_from_db()
    assert (rec.status, rec.amount) == ("dismissed", D("125.00"))
    assert digests.count() == 1

    approved_cost("0.01", resource=res, incurred_on=DAY)  # 125.01: past +25 %
    recommendations_compute(now=NOW)
    rec.refresh_from_db()
    assert rec.status == "open"
    assert digests.count() == 2
    assert list(rec.events.values_list("action", flat=True)) == ["dismissed", "reopened"]


@override_settings(COSTTRACK_RECOMMENDATION_REOPEN_GROWTH=D("1.00"))
def test_the_reopen_threshold_is_a_setting(org):
    res = _idle(org, "100.00")
    recommendations_compute(now=NOW)
    rec = Recommendation.objects.get(kind="idle_resource")
    recommendation_dismiss(recommendation=rec, reason="Known", acting_user=org.fin)
    approved_cost("90.00", resource=res, incurred_on=DAY)
    recommendations_compute(now=NOW)
    rec.refresh_from_db()
    assert rec.status == "dismissed"


def test_dismissal_needs_a_reason_and_the_right_to_manage_the_unit(org):
    from costtrack.core.exceptions import Conflict, PermissionDenied, ValidationError

    _idle(org, "100.00")
    recommendations_compute(now=NOW)
    rec = Recommendation.objects.get(kind="idle_resource")
    with pytest.raises(ValidationError):
        recommendation_dismiss(recommendation=rec, reason="  ", acting_user=org.fin)
    for user in (org.member, org.sales_owner, org.aud):
        with pytest.raises(PermissionDenied):
            recommendation_dismiss(recommendation=rec, reason="no", acting_user=user)
    recommendation_dismiss(recommendation=rec, reason="ok", acting_user=org.eng_owner)
    with pytest.raises(Conflict):
        recommendation_dismiss(recommendation=rec, reason="again", acting_user=org.fin)
    assert RecommendationEvent.objects.count() == 1


def test_one_digest_per_owner_listing_each_new_recommendation(org):
    a = _resource(org, "vm-a", "ec2", owner=org.eng_owner)
    b = _resource(org, "vm-b", "ec2", owner=org.eng_owner)
    approved_cost("10.00", resource=a, incurred_on=DAY)
    approved_cost("20.00", resource=b, incurred_on=DAY)
    recommendations_compute(now=NOW)
    (digest,) = Notification.objects.filter(kind="recommendations")
    assert digest.recipient == org.eng_owner  # platform has no owner; its parent's is told
    assert digest.subject == "2 new recommendations: 30.00 USD at stake"
    assert "vm-a" in digest.body and "vm-b" in digest.body
    recommendations_compute(now=NOW)
    assert Notification.objects.filter(kind="recommendations").count() == 1
