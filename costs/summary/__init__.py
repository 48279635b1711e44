"""The spend summary (see ``costs.summary_models``): maintenance, reads, rebuild and check.

- ``maintain``: what every cost write calls, in its own transaction;
- ``read``: the grouped totals that reports, pages and budgets read;
- ``check``: ``costtrack summaries rebuild`` and ``costtrack summaries check``.
"""
