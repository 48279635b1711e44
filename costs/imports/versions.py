"""The FOCUS versions a billing import reads (1.0–1.3): the columns each makes mandatory,
the columns that tell them apart, and the check of a file's header against them."""

from .focus import MANDATORY_COLUMNS, FocusFileError, file_error

# The columns each FOCUS version makes mandatory that this import checks (beside the ones it
# reads, ``MANDATORY_COLUMNS``), and the columns that first appear in a version: the newest
# version whose marker columns the header has is the file's version. 1.3 names the provider
# ServiceProviderName (ProviderName and PublisherName become optional).
VERSION_MANDATORY = {
    "1.0": (
        "BillingAccountName",
        "ChargeClass",
        "ContractedCost",
        "InvoiceIssuerName",
        "PricingQuantity",
        "PricingUnit",
    ),
    "1.1": ("BillingAccountName", "ChargeClass", "ContractedCost", "InvoiceIssuerName",
            "PricingQuantity", "PricingUnit", "ServiceSubcategory"),
    "1.2": ("BillingAccountName", "BillingAccountType", "ChargeClass", "ContractedCost",
            "InvoiceIssuerName", "PricingCurrency", "PricingQuantity", "PricingUnit",
            "ServiceSubcategory"),
    "1.3": ("BillingAccountName", "BillingAccountType", "ChargeClass", "ContractedCost",
            "HostProviderName", "InvoiceIssuerName", "PricingCurrency", "PricingQuantity",
            "PricingUnit", "ServiceProviderName", "ServiceSubcategory"),
}  # fmt: skip
VERSION_MARKERS = {
    "1.3": ("ServiceProviderName", "HostProviderName", "ContractApplied", "AllocatedMethodId"),
    "1.2": ("BillingAccountType", "SubAccountType", "PricingCurrency", "InvoiceId"),
    "1.1": (
        "ServiceSubcategory",
        "SkuMeter",
        "SkuPriceDetails",
        "CapacityReservationId",
        "CommitmentDiscountQuantity",
    ),
}
VERSIONS = tuple(VERSION_MANDATORY)
# 1.3 replaces these by ServiceProviderName (and HostProviderName).
RENAMED_IN_1_3 = {"ProviderName": "ServiceProviderName", "PublisherName": "ServiceProviderName"}


def detect_version(header: list[str]) -> str:
    """The newest FOCUS version whose marker columns the header has (1.0 when none)."""
    names = set(header)
    for version, markers in VERSION_MARKERS.items():
        if names.intersection(markers):
            return version
    return "1.0"


def check_header(
    header: list[str], amount_column: str, version: str = "", kind: str = "CSV"
) -> str:
    """Check the header against the FOCUS version (declared, else detected); return it."""
    errors = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append({"line": 1, "column": name, "message": f"Column '{name}' repeats."})
        seen.add(name)
    if version and version not in VERSIONS:
        raise file_error(
            f"Unknown FOCUS version '{version}': this import reads FOCUS {', '.join(VERSIONS)}.",
            line=1,
        )
    version = version or detect_version(header)
    base = [
        RENAMED_IN_1_3.get(name, name) if version == "1.3" else name for name in MANDATORY_COLUMNS
    ]
    required = list(dict.fromkeys([*base, *VERSION_MANDATORY[version]]))
    if amount_column not in required:
        required.append(amount_column)
    missing = [name for name in required if name not in seen]
    for name in missing:
        errors.append(
            {
                "line": 1,
                "column": name,
                "message": f"Mandatory column '{name}' is missing."
                + ("" if name in MANDATORY_COLUMNS else f" (FOCUS {version})"),
            }
        )
    if errors:
        core = [name for name in base if name not in seen]
        if core and len(core) == len(base):
            errors.insert(
                0,
                {
                    "line": 1,
                    "column": "",
                    "message": f"This is not a FOCUS {kind} file: none of the mandatory columns "
                    f"({', '.join(MANDATORY_COLUMNS[:4])} …) is in the header.",
                },
            )
        raise FocusFileError(errors)
    return version
