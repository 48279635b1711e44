"""How many SQL statements one submission runs (no budgets): a bound that catches a change
adding lookups or per-table summary statements to the create-and-submit path."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from budgets.models import Budget
from costs import services
from costs.models import Cost, SpendDay, SpendMonthTag

from .factories import category

pytestmark = pytest.mark.django_db

# Measured: 13 statements, the test's savepoint and its release included: the period guard,
# the exchange rate, the unit's ancestors with their owners (the approver), the matching
# budgets, the cost's INSERT (pending at once), the spend summary (one prepared statement for
# all eight tables), both events in one INSERT, the recipients, their channels, the
# notification and its job in the outbox.
MAX_STATEMENTS = 13


def _submit(org, compute, **fields):
    return services.cost_create(
        submitted_by=org.member,
        amount=Decimal("12.34"),
        currency="EUR",
        incurred_on=date(2025, 3, 10),
        category=compute,
        tags={"team": "web"},
        **fields,
    ).cost


def test_one_submission_runs_few_statements(org, eur_rates):
    assert not Budget.objects.exists()
    compute = category("compute")
    _submit(org, compute, resource=org.resource)  # warm caches (content types, groups …)
    with CaptureQueriesContext(connection) as ctx:
        cost = _submit(org, compute, resource=org.resource)
    statements = [q["sql"] for q in ctx.captured_queries]
    assert cost.status == Cost.Status.PENDING
    assert len(statements) <= MAX_STATEMENTS, "\n".join(statements)
    # the summary took the cost in one statement for every table
    # (a statement prepared on the connection by the first submission)
    summary = [s for s in statements if "costs_spend_" in s or "costtrack_summary_" in s]
    assert len(summary) == 1 and summary[0].startswith("EXECUTE costtrack_summary_"), summary
    assert SpendDay.objects.get(day=date(2025, 3, 10), status="pending").entries == 2
    # the tag rows of the cost's unit and of each ancestor (their subtrees) hold both costs
    tags = SpendMonthTag.objects.filter(tag_value="web", status="pending")
    assert {row.organization_unit_id for row in tags} == {
        u.pk for u in cost.organization_unit.get_ancestors(include_self=True)
    }
    assert {row.amount for row in tags} == {Decimal("24.68")}
