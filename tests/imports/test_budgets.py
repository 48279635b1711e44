"""An import is held against budgets as a whole: a block budget refuses it, naming the budget,
unless finance overrides with a reason; a warn budget leaves warnings on the batch."""

from decimal import Decimal

import pytest

from budgets.models import Budget
from costs.models import Cost, ImportBatch
from tests.budgets.factories import BudgetFactory
from tests.imports.conftest import sample_bytes

pytestmark = pytest.mark.django_db


def test_a_block_budget_refuses_the_import_and_names_the_budget(run, landing):
    BudgetFactory(
        name="Cloud March",
        amount=Decimal("100.00"),
        organization_unit=landing,
        action=Budget.Action.BLOCK,
    )
    batch = run(sample_bytes("gcp.csv"))
    assert batch.status == ImportBatch.Status.FAILED
    assert "Cloud March" in batch.errors[0]["message"]
    assert batch.errors[0]["budgets"][0]["name"] == "Cloud March"
    assert Cost.objects.count() == 0


def test_finance_may_import_past_a_block_budget_with_a_reason(run, landing):
    BudgetFactory(
        name="Cloud March",
        amount=Decimal("100.00"),
        organization_unit=landing,
        action=Budget.Action.BLOCK,
    )
    batch = run(sample_bytes("gcp.csv"), override_reason="The bill is already due")
    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert batch.warnings[0]["overridden"] is True
    assert Cost.objects.count() == batch.costs_created


def test_a_warn_budget_leaves_warnings_on_the_batch(run, landing):
    BudgetFactory(name="Heads-up", amount=Decimal("100.00"), organization_unit=landing)
    batch = run(sample_bytes("gcp.csv"))
    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert [w["name"] for w in batch.warnings if w.get("name")] == ["Heads-up"]


def test_groups_that_only_together_overspend_a_block_budget_refuse_the_import(run, landing):
    # every single charge group of the GCP sample is far below 300, its total is not
    BudgetFactory(
        name="Tight",
        amount=Decimal("300.00"),
        organization_unit=landing,
        action=Budget.Action.BLOCK,
    )
    batch = run(sample_bytes("gcp.csv"))
    assert batch.status == ImportBatch.Status.FAILED
    assert "Tight" in batch.errors[0]["message"]
    assert Cost.objects.count() == 0


def test_a_block_budget_narrowed_by_tags_sees_the_tags_of_imported_costs(run, landing):
    BudgetFactory(
        name="Data team",
        amount=Decimal("10.00"),
        organization_unit=landing,
        tags_filter={"team": "data"},
        action=Budget.Action.BLOCK,
    )
    batch = run(sample_bytes("gcp.csv"))
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.errors[0]["budgets"][0]["name"] == "Data team"
    assert Cost.objects.count() == 0


def test_a_refused_import_tells_the_budget_owners(run, landing, importer):
    from notifications.models import Notification

    BudgetFactory(
        name="Cloud March",
        amount=Decimal("100.00"),
        organization_unit=landing,
        action=Budget.Action.BLOCK,
    )
    batch = run(sample_bytes("gcp.csv"))
    assert batch.status == ImportBatch.Status.FAILED
    blocked = Notification.objects.filter(kind="budget_blocked")
    assert set(blocked.values_list("recipient__username", flat=True)) >= {
        landing.owner.username,
        importer.username,  # finance
    }
    assert all("Cloud March" in n.subject + n.body for n in blocked)


def _approval_only_budget(landing, amount):
    return BudgetFactory(
        name="Approved spend",
        amount=Decimal(amount),
        organization_unit=landing,
        action=Budget.Action.BLOCK,
        include_pending=False,
    )


def _gcp_total() -> Decimal:
    """The charges of the GCP sample (its credits do not spend a budget)."""
    from tests.imports.conftest import rows_of

    amounts = (Decimal(r["EffectiveCost"]) for r in rows_of(sample_bytes("gcp.csv")))
    return sum((a for a in amounts if a > 0), Decimal(0))


def _approved_meanwhile(landing, amount: str) -> Cost:
    """Another cost of the landing unit approved after the import came in."""
    from datetime import date

    from tests.costs.factories import make_cost

    return make_cost(
        status="approved",
        submitted_by=landing.owner,
        amount=amount,
        incurred_on=date(2024, 3, 20),
        organization_unit=landing,
    )


def test_a_block_budget_counting_approved_spend_refuses_an_import_over_it(run, landing):
    _approval_only_budget(landing, "300.00")
    batch = run(sample_bytes("gcp.csv"))  # actual 0 + the whole file > 300
    assert batch.status == ImportBatch.Status.FAILED
    budget = batch.errors[0]["budgets"][0]
    assert budget["name"] == "Approved spend"
    assert Decimal(budget["requested"]) == _gcp_total()  # the file's charges, not a probe
    assert Cost.objects.count() == 0


def test_a_batch_approval_cannot_push_approved_spend_past_a_block_budget(run, landing):
    from costs.imports import services
    from costtrack.core.exceptions import PermissionDenied

    # the file fits when it comes in; a cost approved meanwhile leaves no room for all of it
    budget = _approval_only_budget(landing, str(_gcp_total() + 50))
    batch = run(sample_bytes("gcp.csv"))
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    _approved_meanwhile(landing, "100.00")
    with pytest.raises(PermissionDenied) as refused:
        services.import_batch_decide(
            batch=batch,
            approver=landing.owner,
            decision="approve",
            comment="March bill",
            acting_user=landing.owner,
        )
    assert refused.value.code == "budget_exceeded"
    (item,) = refused.value.extra["budgets"]
    assert item["budget_id"] == budget.pk
    assert Decimal(item["budget_spent"]) == Decimal("100.00")
    assert Decimal(item["requested"]) == _gcp_total()
    statuses = set(Cost.objects.filter(import_link__batch=batch).values_list("status", flat=True))
    assert statuses == {"pending"}


def test_finance_approves_the_batch_past_the_block_with_a_reason(run, landing):
    from django.contrib.auth.models import Group

    from costs.imports import services
    from costs.models import CostEvent
    from tests.orgunits.factories import UserFactory

    _approval_only_budget(landing, str(_gcp_total() + 50))
    batch = run(sample_bytes("gcp.csv"))
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    _approved_meanwhile(landing, "100.00")
    controller = UserFactory(username="controller")
    controller.groups.add(Group.objects.get(name="finance"))
    decided = services.import_batch_decide(
        batch=batch,
        approver=landing.owner,
        decision="approve",
        comment="March bill",
        acting_user=controller,
        override_reason="Contracted spend, budget revision follows",
    )
    costs = Cost.objects.filter(import_link__batch=batch)
    assert decided == costs.count()
    assert set(costs.values_list("status", flat=True)) == {"approved"}
    overrides = CostEvent.objects.filter(cost__in=costs, action="override")
    assert overrides.count() == decided
    assert {e.comment for e in overrides} == {"Contracted spend, budget revision follows"}


def test_finance_without_a_reason_does_not_inherit_the_importers_override(run, landing):
    """The importer's reason let the file in; it does not let a later approval past."""
    from django.contrib.auth.models import Group

    from costs.imports import services
    from costtrack.core.exceptions import PermissionDenied
    from tests.orgunits.factories import UserFactory

    _approval_only_budget(landing, "300.00")
    batch = run(sample_bytes("gcp.csv"), override_reason="Bill is due")
    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    controller = UserFactory(username="controller")
    controller.groups.add(Group.objects.get(name="finance"))
    with pytest.raises(PermissionDenied):
        services.import_batch_decide(
            batch=batch,
            approver=landing.owner,
            decision="approve",
            comment="ok",
            acting_user=controller,
        )
    assert set(Cost.objects.filter(import_link__batch=batch).values_list("status", flat=True)) == {
        "pending"
    }


def test_a_batch_approval_within_the_budget_goes_through(run, landing):
    from costs.imports import services

    _approval_only_budget(landing, "100000.00")
    batch = run(sample_bytes("gcp.csv"))
    decided = services.import_batch_decide(
        batch=batch,
        approver=landing.owner,
        decision="approve",
        comment="March bill",
        acting_user=landing.owner,
    )
    assert decided == Cost.objects.filter(import_link__batch=batch, status="approved").count()
