"""Every write of the costs app. Import from here: ``from costs import services``."""

from .categories import category_create, category_default, category_delete, category_update
from .costs import (
    CostResult,
    cost_approve,
    cost_cancel,
    cost_create,
    cost_record,
    cost_reject,
    cost_revise,
    cost_submit,
    cost_update,
    cost_void,
    costs_decide_many,
)
from .rates import (
    convert,
    costs_reconvert,
    exchange_rate_delete,
    exchange_rate_set,
    exchange_rate_update,
    exchange_rates_load_csv,
    rate_on,
)

__all__ = [
    "CostResult",
    "category_create",
    "category_default",
    "category_delete",
    "category_update",
    "convert",
    "cost_approve",
    "cost_cancel",
    "cost_create",
    "cost_record",
    "cost_reject",
    "cost_revise",
    "cost_submit",
    "cost_update",
    "cost_void",
    "costs_decide_many",
    "costs_reconvert",
    "exchange_rate_delete",
    "exchange_rate_set",
    "exchange_rate_update",
    "exchange_rates_load_csv",
    "rate_on",
]
