"""Spikes: a unit's, resource's or service's cost on the day far above its own baseline.

The baseline is the 28 days before the day, days without spend counting as zero. A day is a
spike when its cost exceeds ``median + k·MAD`` (median absolute deviation) of the baseline,
where MAD is at least ``MAD_FLOOR × median`` (so a flat series, MAD 0, gives none), the
excess over the median is at least ``MIN_EXCESS``, and the baseline has spend on at least
``MIN_DAYS`` days (a new subject or a monthly charge has no baseline to be above).

Series come from the summary: units from the day unit table, resources from the day detail
table (both grouped by subject and day, one query each, for the subjects with spend on the
day only); services are their resources' sums. The top contributors of each spike (the
resources and categories of a unit, the categories of a resource, the resources of a
service) take one more query per family.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from statistics import median

from django.conf import settings
from django.db.models import Sum

from costs.models import CostCategory, SpendDay, SpendDayDetail
from costs.summary.grains import SPENDING
from orgunits.models import OrganizationUnit, Resource

from .common import ZERO, Candidate, cents, money

KIND = "spike"
BASELINE_DAYS = 28
TOP_CONTRIBUTORS = 3


def _setting(name: str, default):
    return getattr(settings, f"COSTTRACK_RECOMMENDATION_SPIKE_{name}", default)


def spike_rule() -> dict:
    return {
        "k": Decimal(_setting("K", Decimal(3))),
        "mad_floor": Decimal(_setting("MAD_FLOOR", Decimal("0.05"))),
        "min_excess": Decimal(_setting("MIN_EXCESS", Decimal(10))),
        "min_days": int(_setting("MIN_DAYS", 7)),
    }


def spike_test(baseline: list[Decimal], amount: Decimal, rule: dict) -> dict | None:
    """The evidence of a spike of ``amount`` over ``baseline`` (28 values), or None."""
    days_with_spend = sum(1 for v in baseline if v)
    if days_with_spend < rule["min_days"]:
        return None
    med = median(baseline)
    mad = median([abs(v - med) for v in baseline])
    mad_used = max(mad, rule["mad_floor"] * abs(med))
    threshold = med + rule["k"] * mad_used
    if amount <= threshold or amount - med < rule["min_excess"]:
        return None
    return {
        "amount": money(amount),
        "baseline_median": money(med),
        "mad": money(mad),
        "mad_used": money(mad_used),
        "k": str(rule["k"]),
        "threshold": money(threshold),
        "baseline_days": BASELINE_DAYS,
        "days_with_spend": days_with_spend,
        "excess": money(amount - med),
    }


def _series(rows, day: date) -> dict:
    """``{subject: (baseline values, amount on the day)}`` from (subject, day, total) rows."""
    first = day - timedelta(days=BASELINE_DAYS)
    by_subject: dict = defaultdict(lambda: [ZERO] * (BASELINE_DAYS + 1))
    for subject, when, total in rows:
        by_subject[subject][(when - first).days] += total
    return {s: (values[:BASELINE_DAYS], values[BASELINE_DAYS]) for s, values in by_subject.items()}


def _window(qs, day: date):
    return qs.filter(
        day__range=(day - timedelta(days=BASELINE_DAYS), day), entries__gt=0, status__in=SPENDING
    )


def _unit_rows(day: date):
    on_day = _window(SpendDay.objects, day).filter(day=day).values("organization_unit_id")
    return (
        _window(SpendDay.objects, day)
        .filter(organization_unit_id__in=on_day)
        .values("organization_unit_id", "day")
        .annotate(total=Sum("amount_reporting"))
        .values_list("organization_unit_id", "day", "total")
    )


def _resource_rows(day: date):
    on_day = (
        _window(SpendDayDetail.objects, day)
        .filter(day=day, resource_key__gt=0)
        .values("resource_key")
    )
    return (
        _window(SpendDayDetail.objects, day)
        .filter(resource_key__in=on_day)
        .values("resource_key", "day")
        .annotate(total=Sum("amount_reporting"))
        .values_list("resource_key", "day", "total")
    )


def _top(amounts: dict, names: dict, link) -> list[dict]:
    ranked = sorted(amounts.items(), key=lambda item: (-item[1], str(item[0])))
    return [
        {"name": names.get(key, str(key)), "amount": money(amount), "link": link(key)}
        for key, amount in ranked[:TOP_CONTRIBUTORS]
        if amount > 0
    ]


def spike_candidates(*, now: datetime, day: date, **_) -> list[Candidate]:
    rule = spike_rule()
    unit_spikes = {}
    for unit_id, (baseline, amount) in _series(_unit_rows(day), day).items():
        evidence = spike_test(baseline, amount, rule)
        if evidence:
            unit_spikes[unit_id] = evidence
    resource_series = _series(_resource_rows(day), day)
    resources = {
        r["id"]: r
        for r in Resource.objects.filter(pk__in=list(resource_series)).values(
            "id", "name", "service", "organization_unit_id"
        )
    }
    resource_spikes = {}
    service_series: dict[str, tuple[list[Decimal], Decimal]] = {}
    service_members: dict[str, dict[int, Decimal]] = defaultdict(dict)
    for res_id, (baseline, amount) in resource_series.items():
        evidence = spike_test(baseline, amount, rule)
        if evidence:
            resource_spikes[res_id] = evidence
        service = resources.get(res_id, {}).get("service")
        if service:
            base, total = service_series.get(service, ([ZERO] * BASELINE_DAYS, ZERO))
            service_series[service] = (
                [a + b for a, b in zip(base, baseline, strict=True)],
                total + amount,
            )
            service_members[service][res_id] = amount
    service_spikes = {}
    for service, (baseline, amount) in service_series.items():
        if len(service_members[service]) < 2:
            continue  # a one-resource service is that resource's series
        evidence = spike_test(baseline, amount, rule)
        if evidence:
            service_spikes[service] = evidence
    return [
        *_unit_candidates(unit_spikes, day),
        *_resource_candidates(resource_spikes, resources, day),
        *_service_candidates(service_spikes, service_members, resources, day),
    ]


def _category_names(ids) -> dict:
    return dict(CostCategory.objects.filter(pk__in=set(ids)).values_list("id", "slug"))


def _resource_link(res_id) -> str:
    return f"/resources/{res_id}/"


def _unit_candidates(spikes: dict, day: date) -> list[Candidate]:
    if not spikes:
        return []
    rows = list(
        _window(SpendDayDetail.objects, day)
        .filter(day=day, organization_unit_id__in=list(spikes))
        .values("organization_unit_id", "resource_key", "category_id")
        .annotate(total=Sum("amount_reporting"))
        .values_list("organization_unit_id", "resource_key", "category_id", "total")
    )
    by_unit: dict = defaultdict(lambda: defaultdict(lambda: ZERO))
    res_ids, cat_ids = set(), set()
    for unit_id, res_key, cat_id, total in rows:
        if res_key:
            by_unit[unit_id][("resource", res_key)] += total
            res_ids.add(res_key)
        else:
            by_unit[unit_id][("category", cat_id)] += total
            cat_ids.add(cat_id)
    names = {
        ("resource", i): n
        for i, n in Resource.objects.filter(pk__in=res_ids).values_list("id", "name")
    }
    names |= {("category", i): n for i, n in _category_names(cat_ids).items()}
    units = dict(OrganizationUnit.objects.filter(pk__in=list(spikes)).values_list("id", "name"))
    found = []
    for unit_id, evidence in spikes.items():
        evidence["day"] = day.isoformat()
        evidence["top_contributors"] = _top(
            by_unit[unit_id],
            names,
            lambda key: _resource_link(key[1]) if key[0] == "resource" else "",
        )
        found.append(
            Candidate(
                kind=KIND,
                key=f"{KIND}:unit:{unit_id}",
                title=f"{units.get(unit_id, unit_id)} spent {evidence['amount']} on {day}, "
                f"against a median of {evidence['baseline_median']}",
                unit_id=unit_id,
                amount=cents(Decimal(evidence["excess"])),
                link=f"/units/{unit_id}/",
                evidence={"subject": "unit", "unit": unit_id, **evidence},
            )
        )
    return found


def _resource_candidates(spikes: dict, resources: dict, day: date) -> list[Candidate]:
    if not spikes:
        return []
    rows = (
        _window(SpendDayDetail.objects, day)
        .filter(day=day, resource_key__in=list(spikes))
        .values("resource_key", "category_id")
        .annotate(total=Sum("amount_reporting"))
        .values_list("resource_key", "category_id", "total")
    )
    by_resource: dict = defaultdict(dict)
    for res_id, cat_id, total in rows:
        by_resource[res_id][cat_id] = total
    names = _category_names(c for cats in by_resource.values() for c in cats)
    found = []
    for res_id, evidence in spikes.items():
        res = resources.get(res_id, {"name": f"resource #{res_id}", "organization_unit_id": None})
        evidence["day"] = day.isoformat()
        evidence["top_contributors"] = _top(by_resource[res_id], names, lambda key: "")
        found.append(
            Candidate(
                kind=KIND,
                key=f"{KIND}:resource:{res_id}",
                title=f"{res['name']} cost {evidence['amount']} on {day}, against a median "
                f"of {evidence['baseline_median']}",
                unit_id=res["organization_unit_id"],
                amount=cents(Decimal(evidence["excess"])),
                link=_resource_link(res_id),
                evidence={"subject": "resource", "resource": res_id, **evidence},
            )
        )
    return found


def _service_candidates(spikes: dict, members: dict, resources: dict, day: date) -> list[Candidate]:
    found = []
    for service, evidence in spikes.items():
        names = {i: resources[i]["name"] for i in members[service] if i in resources}
        evidence["day"] = day.isoformat()
        evidence["top_contributors"] = _top(members[service], names, _resource_link)
        top = evidence["top_contributors"]
        found.append(
            Candidate(
                kind=KIND,
                key=f"{KIND}:service:{service}"[:255],
                title=f"Service {service} cost {evidence['amount']} on {day}, against a "
                f"median of {evidence['baseline_median']}",
                # a service spans units: organisation-wide, for finance
                unit_id=None,
                amount=cents(Decimal(evidence["excess"])),
                link=top[0]["link"] if top else "",
                evidence={"subject": "service", "service": service, **evidence},
            )
        )
    return found
