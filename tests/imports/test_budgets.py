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
