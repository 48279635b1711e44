"""Revenue of products: what a product node earned on a day or in a month.

Revenue is kept in the currency it was earned in and converted to the reporting currency
like a cost (``costs.services.rates.convert``: the latest rate on or before its date,
rounded half-even to the reporting currency's minor unit); a rate change reconverts it.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from costtrack.core.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS


def _money(**kwargs):
    return models.DecimalField(
        max_digits=AMOUNT_MAX_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES, **kwargs
    )


class Revenue(models.Model):
    """A product's revenue for one day (``grain`` day) or one month (``grain`` month, ``date``
    the first of the month). One row per (node, date, grain): loading it again replaces it."""

    class Grain(models.TextChoices):
        DAY = "day", "Day"
        MONTH = "month", "Month"

    node = models.ForeignKey(
        "allocation.CostNode", on_delete=models.PROTECT, related_name="revenue"
    )
    date = models.DateField(help_text="The day, or the first day of the month for grain month.")
    grain = models.CharField(max_length=8, choices=Grain.choices, default=Grain.DAY)
    amount = _money()
    currency = models.CharField(max_length=8)
    amount_reporting = _money(help_text="The amount in the reporting currency.")
    exchange_rate = models.DecimalField(max_digits=24, decimal_places=12, default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date", "node_id", "grain"]
        verbose_name_plural = "revenue"
        indexes = [models.Index(fields=["date", "node"], name="revenue_date_node")]
        constraints = [
            models.UniqueConstraint(
                fields=["node", "date", "grain"], name="revenue_one_per_node_date_grain"
            ),
            models.CheckConstraint(
                condition=Q(grain="day") | Q(date__day=1), name="revenue_month_on_first_day"
            ),
        ]

    def __str__(self) -> str:
        label = self.date.strftime("%Y-%m") if self.grain == self.Grain.MONTH else self.date
        return f"{self.node} {label}: {self.amount} {self.currency}"
