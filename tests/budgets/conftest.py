"""The small organisation of the costs tests (``org``, ``eur_rates``) plus a pinned clock.

acme (root, owner ceo)
├── eng (owner eng_owner; approver eng_approver)
│   └── platform (member "member")
└── sales (owner sales_owner; member sales_member)
"""

from tests.costs.conftest import eur_rates, org  # noqa: F401
