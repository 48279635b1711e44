"""Recommendations: what to fix first, each with its evidence, the money at stake and a link.

Sits on top of ``costs``, ``budgets`` and ``allocation``; only the project package imports it.
"""
