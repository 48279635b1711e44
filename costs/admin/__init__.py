"""Admin for costs, their audit trail, exchange rates and the category tree.

Every write goes through ``costs.services``, so the admin obeys the same rules as the API
and the pages (the submitter never approves their own cost, only finance voids, …). A
service's refusal shows as a form error (create/edit) or an admin message (transitions and
bulk actions). The audit trail (``CostEvent``) is view-only everywhere.
"""

from . import costs, reference  # noqa: F401 -- registers the model admins
