"""Template filters of the cost pages."""

from decimal import Decimal

from django import template

from costtrack.core.money import CurrencyError, reporting_currency, round_money

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str | None = None) -> str:
    """``{{ cost.amount|money:cost.currency }}``: the amount in the currency's minor unit
    (reporting currency when none is given), as a plain decimal."""
    if amount is None:
        return ""
    try:
        return str(round_money(amount, currency or reporting_currency()))
    except (CurrencyError, ArithmeticError):
        return str(amount)
