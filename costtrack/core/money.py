"""Money: currencies with their minor units, exact quantisation and exact splitting.

Amounts are ``Decimal`` end to end. ``split_largest_remainder`` divides an amount among
weights in the currency's minor units so that the parts always sum exactly to the whole.
"""

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction

from django.conf import settings

# ISO 4217 active codes and their minor-unit digits.
ISO_4217: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2,
    "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2,
    "BOB": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2,
    "CHF": 2, "CLF": 4, "CLP": 0, "CNY": 2, "COP": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2,
    "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2,
    "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2,
    "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2,
    "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2,
    "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2,
    "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2,
    "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2,
    "NOK": 2, "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2,
    "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2,
    "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2,
    "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2,
    "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "UYU": 2, "UYW": 4,
    "UZS": 2, "VES": 2, "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XOF": 0, "XPF": 0,
    "YER": 2, "ZAR": 2, "ZMW": 2, "ZWL": 2,
}  # fmt: skip

# The largest absolute amount costtrack accepts: 10^12 in any currency.
MAX_ABS_AMOUNT = Decimal(10) ** 12
# Database columns hold 20 digits with 8 decimals: enough for 10^12 in BTC's satoshi precision.
AMOUNT_MAX_DIGITS = 20
AMOUNT_DECIMAL_PLACES = 8


class CurrencyError(ValueError):
    pass


_MERGED: tuple[object, dict[str, int]] = (None, {})


def currencies() -> dict[str, int]:
    """Every accepted currency code mapped to its number of minor-unit digits (a copy)."""
    return dict(_currencies())


def _currencies() -> dict[str, int]:
    # Reports round thousands of amounts per request: the table is merged once per value of
    # the setting (``override_settings`` replaces the object, so it is found changed).
    global _MERGED
    extra = settings.COSTTRACK_EXTRA_CURRENCIES
    if _MERGED[0] is not extra:
        merged = {**ISO_4217, **{code.upper(): int(d) for code, d in extra.items()}}
        _MERGED = (extra, merged)
    return _MERGED[1]


def is_known_currency(code: str) -> bool:
    return isinstance(code, str) and code.upper() in _currencies()


def minor_digits(code: str) -> int:
    try:
        return _currencies()[code.upper()]
    except (KeyError, AttributeError):
        raise CurrencyError(f"Unknown currency '{code}'.") from None


_QUANTA = {digits: Decimal(1).scaleb(-digits) for digits in range(19)}


def quantum(code: str) -> Decimal:
    """The smallest unit of a currency: 0.01 for USD, 1 for JPY, 0.00000001 for BTC."""
    digits = minor_digits(code)
    return _QUANTA.get(digits) or Decimal(1).scaleb(-digits)


def reporting_currency() -> str:
    return settings.REPORTING_CURRENCY


def check_amount(amount: Decimal, currency: str) -> Decimal:
    """Validate an amount for a currency; return it unchanged.

    Raises ``CurrencyError`` for an unknown currency, a non-finite amount, an amount with
    more decimals than the currency allows, or one whose magnitude is 10^12 or more.
    """
    digits = minor_digits(currency)
    try:
        amount = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise CurrencyError("Enter a valid decimal amount.") from None
    if not amount.is_finite():
        raise CurrencyError("The amount must be a finite number (not NaN or Infinity).")
    if abs(amount) >= MAX_ABS_AMOUNT:
        raise CurrencyError("The amount must be smaller than 10^12 in absolute value.")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > digits:
        raise CurrencyError(
            f"{currency.upper()} allows at most {digits} decimal place{'s' if digits != 1 else ''}."
        )
    return amount


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-even to the currency's minor unit (the one defined rounding point)."""
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_EVEN)


def to_minor(amount: Decimal, currency: str) -> int:
    """An exact amount in the currency's minor units (it must already fit the currency)."""
    value = Decimal(amount).scaleb(minor_digits(currency))
    if value != value.to_integral_value():
        raise CurrencyError(f"{amount} has more decimals than {currency} allows.")
    return int(value)


def from_minor(units: int, currency: str) -> Decimal:
    return Decimal(units).scaleb(-minor_digits(currency)).quantize(quantum(currency))


def split_minor_units(total: int, weights: Sequence[int | Fraction | Decimal]) -> list[int]:
    """Split ``total`` minor units among ``weights`` by the largest-remainder method.

    The parts sum exactly to ``total``. Ties in the remainder go to the earlier weight, so
    the result is deterministic. All-zero (or empty) weights are refused by ``ValueError``.
    Works for negative totals (credits) by splitting the magnitude.
    """
    if not weights:
        raise ValueError("Cannot split among no parts.")
    fractions = [Fraction(w) if not isinstance(w, Decimal) else Fraction(str(w)) for w in weights]
    if any(f < 0 for f in fractions):
        raise ValueError("Weights must not be negative.")
    weight_sum = sum(fractions)
    if weight_sum == 0:
        raise ValueError("Cannot split by all-zero weights.")
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    exact = [magnitude * f / weight_sum for f in fractions]
    floors = [int(x) for x in exact]  # exact >= 0, int() floors
    leftover = magnitude - sum(floors)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:leftover]:
        floors[i] += 1
    return [sign * part for part in floors]


def split_largest_remainder(
    amount: Decimal, weights: Sequence[int | Fraction | Decimal], currency: str
) -> list[Decimal]:
    """Split a money amount by weights; the parts sum exactly to ``amount``.

    >>> split_largest_remainder(Decimal("100.00"), [1, 1, 1], "USD")
    [Decimal('33.34'), Decimal('33.33'), Decimal('33.33')]
    """
    units = split_minor_units(to_minor(round_money(amount, currency), currency), weights)
    return [from_minor(u, currency) for u in units]


def clean_money(amount, currency) -> tuple[Decimal, str]:
    """Validate user input for an amount in a currency; return ``(amount, CODE)``.

    Raises ``costtrack.core.exceptions.ValidationError`` on the field at fault: ``currency``
    for a missing or unknown code, ``amount`` for NaN/Infinity, too many decimals or a
    magnitude of 10^12 or more.
    """
    from .exceptions import ValidationError

    if not isinstance(currency, str) or not currency:
        raise ValidationError("Enter a currency code.", field="currency")
    if not is_known_currency(currency):
        raise ValidationError(
            f"Unknown currency '{currency}'.", field="currency", code="unknown_currency"
        )
    try:
        amount = check_amount(amount, currency)
    except CurrencyError as exc:
        raise ValidationError(str(exc), field="amount") from None
    return amount, currency.upper()
