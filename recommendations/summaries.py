"""One line of evidence per recommendation, for the page and the digest."""

from .models import Kind, Recommendation


def evidence_summary(rec: Recommendation) -> str:
    e = rec.evidence or {}
    try:
        if rec.kind == Kind.SPIKE:
            top = ", ".join(f"{c['name']} {c['amount']}" for c in e.get("top_contributors", []))
            return (
                f"{e['day']}: {e['amount']} against a 28-day median of {e['baseline_median']} "
                f"(MAD {e['mad']}, k {e['k']}, threshold {e['threshold']})"
                + (f"; top contributors: {top}" if top else "")
            )
        if rec.kind == Kind.UNALLOCATED_COST:
            return (
                f"Run #{e['run']} ({e['period_start']} – {e['period_end']}): {e['unallocated']} "
                f"of {e['holistic']} reaches no product; coverage {e['coverage_pct']} %"
            )
        if rec.kind == Kind.IDLE_RESOURCE:
            reasons = {
                "not_in_allocation": "not in the allocation graph",
                "no_usage": "no usage records",
                "no_owner": "no owner and no unit owner",
            }
            why = "; ".join(reasons.get(r, r) for r in e.get("reasons", []))
            return f"{e['cost']} from {e['window_start']} to {e['window_end']}; {why}"
        if rec.kind == Kind.BUDGET_OVERRUN:
            return (
                f"Forecast {e['forecast']} {e['currency']} against {e['amount']} "
                f"({e['forecast_pct']} %), spent {e['spent']}; {e['days_left']} days left "
                f"until {e['period_end']}"
            )
        if rec.kind == Kind.UNTAGGED_SPEND:
            return (
                f"{e['untagged_costs']} of {e['costs']} imported costs ({e['untagged']} of "
                f"{e['imported']}, {e['untagged_pct']} %) lack the tags "
                f"{', '.join(e['tag_keys'])}"
            )
    except (KeyError, TypeError):
        pass
    return ""
