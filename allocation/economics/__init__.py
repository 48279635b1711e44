"""Reads of product economics: revenue, the product P&L of a run, and unit costs.

Who sees what follows the cost graph (``allocation.selectors``): finance and auditors read
everything; anyone else reads the revenue, margins and unit costs of the product nodes
they see (nodes linked to a resource, entity or unit within their subtrees), and nothing
of another unit's products. ``user=None`` is an internal caller. Every function runs a
fixed number of queries whatever the number of products, rows or months.
"""

from .pnl import PNL_FIGURES, product_pnl, product_pnl_rows
from .revenue import revenue_list, revenue_totals
from .unit_costs import default_per, per_label, unit_cost_trend, unit_costs

__all__ = [
    "PNL_FIGURES",
    "product_pnl",
    "product_pnl_rows",
    "revenue_list",
    "revenue_totals",
    "default_per",
    "per_label",
    "unit_costs",
    "unit_cost_trend",
]
