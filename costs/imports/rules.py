"""How FOCUS values map onto costtrack's vocabulary (providers, categories), and the
mapping-rule writes (finance only)."""

from typing import Any

from django.db import transaction

from costtrack.core.exceptions import PermissionDenied
from costtrack.core.roles import is_finance

from ..models import MappingRule

# ProviderName (lower-cased) → Resource.provider; anything else is "other".
PROVIDER_CODES = {
    "aws": "aws",
    "amazon web services": "aws",
    "amazon": "aws",
    "microsoft": "azure",
    "microsoft azure": "azure",
    "azure": "azure",
    "google cloud": "gcp",
    "google cloud platform": "gcp",
    "google": "gcp",
    "gcp": "gcp",
    "kubernetes": "k8s",
    "opencost": "k8s",
    "k8s": "k8s",
}
PROVIDER_SQL = (
    "CASE lower(g.provider_name) "
    + " ".join(f"WHEN '{name}' THEN '{code}'" for name, code in PROVIDER_CODES.items())
    + " ELSE 'other' END"
)

# FOCUS ServiceCategory (lower-cased) → cost category slug (when that category exists).
SERVICE_CATEGORY_SLUGS = {
    "compute": "compute",
    "storage": "storage",
    "networking": "network",
    "databases": "database",
    "ai and machine learning": "ai",
    "business applications": "saas",
    "other": "other",
}

RULE_FIELDS = {
    "name",
    "priority",
    "active",
    "match_provider",
    "match_billing_account",
    "match_sub_account",
    "match_service",
    "match_tag_key",
    "match_tag_value",
    "organization_unit",
    "entity",
    "category",
}


def _check_finance(acting_user) -> None:
    if not is_finance(acting_user):
        raise PermissionDenied("Only finance staff may change mapping rules.")


@transaction.atomic
def mapping_rule_create(*, acting_user, **fields: Any) -> MappingRule:
    """Create a mapping rule (finance only). Raises Django ``ValidationError`` for bad input."""
    _check_finance(acting_user)
    rule = MappingRule(**{k: v for k, v in fields.items() if k in RULE_FIELDS})
    rule.full_clean()
    rule.save()
    return rule


@transaction.atomic
def mapping_rule_update(*, rule: MappingRule, acting_user, **fields: Any) -> MappingRule:
    _check_finance(acting_user)
    for key, value in fields.items():
        if key in RULE_FIELDS:
            setattr(rule, key, value)
    rule.full_clean()
    rule.save()
    return rule


@transaction.atomic
def mapping_rule_delete(*, rule: MappingRule, acting_user) -> None:
    _check_finance(acting_user)
    rule.delete()
