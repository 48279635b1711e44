"""The spend summary: costs pre-aggregated per day and per month, kept exact by the services.

Eight tables, two time grains (``day`` and ``month``) of four families:

- *unit*: per unit, category, currency and status — what each unit spends directly;
- *tree*: the same per unit *and each of its ancestors* — a unit's subtree total is its own
  rows, whatever the size of the subtree (trends, rollups, budgets, dashboards);
- *detail*: per unit, category, resource, entity, currency and status — breakdowns by
  resource, entity and provider;
- *tag*: per unit and ancestor, tag key, tag value, currency and status — tag breakdowns.

Moving a unit moves its costs' contributions from its old ancestors' tree and tag rows to
the new ones (``costs.summary.maintain``, through the ``orgunits`` move hooks).

Each row holds ``amount`` (sum in ``currency``), ``amount_reporting`` (sum in the reporting
currency) and ``entries`` (number of costs; a tag row counts the costs carrying that pair).
Only spend that reports read is summarised: approved (actual) and pending (committed) costs.
``costs.summary`` owns every write to these tables; nothing else inserts or updates them.
A row whose ``entries`` fell to zero is left for the purge and ignored by every read.
"""

from django.db import models

from costtrack.core.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS
from orgunits.models import OrganizationUnit

__all__ = [
    "SpendDay",
    "SpendMonth",
    "SpendDayTree",
    "SpendMonthTree",
    "SpendDayDetail",
    "SpendMonthDetail",
    "SpendDayTag",
    "SpendMonthTag",
]


class _Spend(models.Model):
    # No foreign-key constraints: the summary follows costs_cost, whose own keys are checked.
    organization_unit = models.ForeignKey(
        OrganizationUnit,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    currency = models.CharField(max_length=8)
    status = models.CharField(max_length=16)
    amount = models.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS + 6, decimal_places=AMOUNT_DECIMAL_PLACES
    )
    amount_reporting = models.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS + 6, decimal_places=AMOUNT_DECIMAL_PLACES
    )
    entries = models.BigIntegerField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        when = getattr(self, "day", None) or getattr(self, "month", None)
        return (
            f"{when} unit #{self.organization_unit_id} {self.status}: {self.amount} {self.currency}"
        )


class _WithCategory(_Spend):
    category = models.ForeignKey(
        "costs.CostCategory",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )

    class Meta:
        abstract = True


class _Detail(_WithCategory):
    # 0 stands for "none", so that the key is unique without NULLs on every backend.
    resource_key = models.BigIntegerField()
    entity_key = models.BigIntegerField()

    class Meta:
        abstract = True


class _Tag(_Spend):
    tag_key = models.TextField()
    tag_value = models.TextField()

    class Meta:
        abstract = True


UNIT_KEY = ["organization_unit", "category", "currency", "status"]
DETAIL_KEY = ["organization_unit", "category", "resource_key", "entity_key", "currency", "status"]
TAG_KEY = ["organization_unit", "tag_key", "tag_value", "currency", "status"]


class SpendDay(_WithCategory):
    day = models.DateField()

    class Meta:
        db_table = "costs_spend_day"
        constraints = [models.UniqueConstraint(fields=["day", *UNIT_KEY], name="spend_day_key")]
        indexes = [
            models.Index(fields=["organization_unit", "day"], name="spend_day_unit"),
            models.Index(fields=["entries"], name="spend_day_empty", condition=models.Q(entries=0)),
        ]


class SpendMonth(_WithCategory):
    month = models.DateField(help_text="The first day of the month.")

    class Meta:
        db_table = "costs_spend_month"
        constraints = [models.UniqueConstraint(fields=["month", *UNIT_KEY], name="spend_month_key")]
        indexes = [
            models.Index(fields=["organization_unit", "month"], name="spend_month_unit"),
            models.Index(
                fields=["entries"], name="spend_month_empty", condition=models.Q(entries=0)
            ),
        ]


class SpendDayTree(_WithCategory):
    """``organization_unit`` is the unit of the costs or any of its ancestors."""

    day = models.DateField()

    class Meta:
        db_table = "costs_spend_day_tree"
        constraints = [
            models.UniqueConstraint(fields=["day", *UNIT_KEY], name="spend_day_tree_key")
        ]
        indexes = [
            models.Index(fields=["organization_unit", "day"], name="spend_day_tree_unit"),
            models.Index(
                fields=["entries"], name="spend_day_tree_empty", condition=models.Q(entries=0)
            ),
        ]


class SpendMonthTree(_WithCategory):
    """``organization_unit`` is the unit of the costs or any of its ancestors."""

    month = models.DateField(help_text="The first day of the month.")

    class Meta:
        db_table = "costs_spend_month_tree"
        constraints = [
            models.UniqueConstraint(fields=["month", *UNIT_KEY], name="spend_month_tree_key")
        ]
        indexes = [
            models.Index(fields=["organization_unit", "month"], name="spend_month_tree_unit"),
            models.Index(
                fields=["entries"], name="spend_month_tree_empty", condition=models.Q(entries=0)
            ),
        ]


class SpendDayDetail(_Detail):
    day = models.DateField()

    class Meta:
        db_table = "costs_spend_day_detail"
        constraints = [
            models.UniqueConstraint(fields=["day", *DETAIL_KEY], name="spend_day_detail_key")
        ]
        indexes = [
            models.Index(fields=["resource_key", "day"], name="spend_day_detail_res"),
            models.Index(
                fields=["entries"], name="spend_day_detail_empty", condition=models.Q(entries=0)
            ),
        ]


class SpendMonthDetail(_Detail):
    month = models.DateField(help_text="The first day of the month.")

    class Meta:
        db_table = "costs_spend_month_detail"
        constraints = [
            models.UniqueConstraint(fields=["month", *DETAIL_KEY], name="spend_month_detail_key")
        ]
        indexes = [
            models.Index(fields=["resource_key", "month"], name="spend_month_detail_res"),
            models.Index(
                fields=["entries"], name="spend_month_detail_empty", condition=models.Q(entries=0)
            ),
        ]


class SpendDayTag(_Tag):
    day = models.DateField()

    class Meta:
        db_table = "costs_spend_day_tag"
        constraints = [models.UniqueConstraint(fields=["day", *TAG_KEY], name="spend_day_tag_key")]
        indexes = [
            models.Index(fields=["organization_unit", "day"], name="spend_day_tag_unit"),
            models.Index(
                fields=["entries"], name="spend_day_tag_empty", condition=models.Q(entries=0)
            ),
        ]


class SpendMonthTag(_Tag):
    month = models.DateField(help_text="The first day of the month.")

    class Meta:
        db_table = "costs_spend_month_tag"
        constraints = [
            models.UniqueConstraint(fields=["month", *TAG_KEY], name="spend_month_tag_key")
        ]
        indexes = [
            models.Index(fields=["organization_unit", "month"], name="spend_month_tag_unit"),
            models.Index(
                fields=["entries"], name="spend_month_tag_empty", condition=models.Q(entries=0)
            ),
        ]
