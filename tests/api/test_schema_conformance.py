"""The OpenAPI schema tells the truth: schemathesis calls every documented operation as a
finance user and as a plain member and checks each answer against the schema.

The schema is read from ``/api/schema/`` and every request goes through the project's WSGI
application in this process (no server, no network), on PostgreSQL. Each case runs in a
savepoint that is rolled back, so every case sees the same seed data: a small organisation
with costs in each state, a budget, a recurring cost, a period, an allocation graph with a
run, a billing import with a rule, notifications, recommendations. Path ids are drawn from
the seeded objects' ids as well as from schemathesis' own, so detail routes answer real
objects, not only 404s.

Checks: no server error, every response body conforms to the documented schema, and every
status code is documented. Generation is derandomized: the same cases run on every machine.
The figures (operations, cases, failures) are printed per user; ``pytest -s`` shows them.
"""

import io
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from allocation import services as allocation_services
from budgets import services as budget_services
from costs.imports import rules as import_rules
from costs.imports import services as import_services
from costs.models import Cost
from costs.periods import services as period_services
from tests.allocation.factories import MARCH, edge, node, usage
from tests.costs.factories import make_cost
from tests.imports.conftest import sample_bytes
from tests.periods.factories import recurring

pytestmark = pytest.mark.django_db

SCHEMA_PATH = "/api/schema/"
MAX_EXAMPLES = 6  # per operation and user
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


@dataclass
class Run:
    """What one user's run did, for the figures and the failure report."""

    user: str
    operations: int = 0
    cases: int = 0
    failing_cases: Counter = field(default_factory=Counter)  # per check
    failures: dict = field(default_factory=dict)  # (operation, check) -> first report

    def record(self, operation: str, group: FailureGroup) -> None:
        for failure in group.exceptions:
            check = type(failure).__name__
            self.failing_cases[check] += 1
            self.failures.setdefault((operation, check), str(group))

    def summary(self, seconds: float) -> str:
        server = self.failing_cases["ServerError"]
        status = self.failing_cases["UndefinedStatusCode"]
        schema = sum(self.failing_cases.values()) - server - status
        return (
            f"schemathesis {schemathesis.__version__} as {self.user}: "
            f"{self.operations} operations, {self.cases:,} cases, {server} server errors, "
            f"{schema} schema failures, {status} undocumented status codes ({seconds:.1f} s)"
        )


def seed(org) -> dict[str, list[int]]:
    """Objects of every kind the API serves, written through the services; returns the ids
    to draw path parameters from, per route prefix."""
    fin, member = org.fin, org.member
    from costs.models import ExchangeRate

    rate = ExchangeRate.objects.create(currency="EUR", date=date(2020, 1, 1), rate=Decimal("1.1"))
    pending = make_cost(submitted_by=member, organization_unit=org.platform, url="")
    draft = make_cost(status=Cost.Status.DRAFT, submitted_by=member, organization_unit=org.platform)
    approved = make_cost(
        status=Cost.Status.APPROVED,
        submitted_by=member,
        resource=org.resource,
        currency="EUR",
        amount="12.50",
        url="https://billing.example.com/invoices/1",
    )
    rejected = make_cost(
        status=Cost.Status.REJECTED, submitted_by=org.sales_member, organization_unit=org.sales
    )
    budget = budget_services.budget_create(
        name="Platform cloud",
        amount=Decimal("5000.00"),
        currency="USD",
        organization_unit=org.platform,
        acting_user=fin,
    )
    item = recurring(acting_user=fin, organization_unit=org.platform)
    period = period_services.period_create(label="2025-03", acting_user=fin)
    db_node = allocation_services.node_create(
        name="db-1", kind="resource", resource=org.resource, acting_user=fin
    )
    product = node("checkout")
    link = edge(db_node, product)
    record = usage(product, "requests", 100)
    run = allocation_services.allocation_run(**MARCH, acting_user=fin)
    batch = import_services.import_file(
        source=io.BytesIO(sample_bytes("gcp.csv")),
        file_name="gcp.csv",
        acting_user=fin,
        unit=org.platform,
    )
    rule = import_rules.mapping_rule_create(
        acting_user=fin,
        name="Prod to platform",
        match_tag_key="env",
        organization_unit=org.platform,
    )
    from notifications.models import Notification
    from recommendations.models import Recommendation
    from recommendations.services import recommendations_compute

    recommendations_compute(notify=False)
    return {
        "/api/v1/costs/": [pending.pk, draft.pk, approved.pk, rejected.pk],
        "/api/v1/budgets/": [budget.pk],
        "/api/v1/recurring-costs/": [item.pk],
        "/api/v1/periods/": [period.pk],
        "/api/v1/org-units/": [org.root.pk, org.platform.pk, org.sales.pk],
        "/api/v1/entities/": [org.entity.pk],
        "/api/v1/resources/": [org.resource.pk],
        "/api/v1/categories/": [approved.category_id or 1],
        "/api/v1/exchange-rates/": [rate.pk],
        "/api/v1/allocation/nodes/": [db_node.pk, product.pk],
        "/api/v1/allocation/edges/": [link.pk],
        "/api/v1/allocation/usage/": [record.pk],
        "/api/v1/allocation/runs/": [run.pk],
        "/api/v1/imports/rules/": [rule.pk],
        "/api/v1/imports/": [batch.pk],
        "/api/v1/notifications/": list(Notification.objects.values_list("pk", flat=True)[:5]),
        "/api/v1/recommendations/": list(Recommendation.objects.values_list("pk", flat=True)[:5]),
    }


def known_ids(path: str, ids: dict[str, list[int]]) -> list[int]:
    prefixes = [p for p in ids if path.startswith(p)]
    return ids[max(prefixes, key=len)] if prefixes else []


@pytest.fixture
def keep_the_test_connection():
    """The WSGI handler closes the database connection after each request; the test's
    transaction lives on it (Django's test client disconnects the same two receivers)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def run_every_operation(run: Run, *, token: str, ids: dict[str, list[int]]) -> None:
    schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, get_wsgi_application())
    headers = {"Authorization": f"Token {token}"}
    for result in schema.get_all_operations():
        operation = result.ok()
        run.operations += 1
        call = _operation_test(run, operation, headers, known_ids(operation.path, ids))
        call()


def _operation_test(run: Run, operation, headers: dict, seeded: list[int]):
    strategy = operation.as_strategy()

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def call(data):
        case = data.draw(strategy)
        if seeded and case.path_parameters and "id" in case.path_parameters:
            case.path_parameters["id"] = data.draw(
                st.sampled_from([*seeded, case.path_parameters["id"]])
            )
        run.cases += 1
        with transaction.atomic():
            try:
                case.call_and_validate(headers=headers, checks=CHECKS)
            except FailureGroup as group:
                run.record(operation.label, group)
            finally:
                transaction.set_rollback(True)

    return call


@pytest.mark.parametrize("who", ["fin", "member"])
def test_every_operation_answers_as_documented(
    org, who, settings, tmp_path, keep_the_test_connection
):
    settings.MEDIA_ROOT = tmp_path
    ids = seed(org)
    user = getattr(org, who)
    token = Token.objects.create(user=user).key
    run = Run(user="finance" if who == "fin" else "member")
    started = time.monotonic()
    run_every_operation(run, token=token, ids=ids)
    line = run.summary(time.monotonic() - started)
    print(line)
    assert run.operations >= 100, line
    assert not run.failures, (
        line
        + "\n\n"
        + "\n\n".join(
            f"--- {operation} [{check}]\n{report}"
            for (operation, check), report in sorted(run.failures.items())
        )
    )
