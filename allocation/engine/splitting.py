"""Largest-remainder splitting in integer arithmetic."""

from __future__ import annotations

from collections.abc import Sequence


def split_by_weights(total: int, weights: Sequence[int]) -> list[int]:
    """Largest-remainder split of ``total`` by non-negative integer ``weights``.

    The same contract as ``costtrack.core.money.split_minor_units`` (ties to the earlier
    weight, negative totals split by magnitude) in integer arithmetic, which is what makes
    graphs of tens of thousands of edges fast. All-zero weights raise ``ValueError``.
    """
    weight_sum = sum(weights)
    if weight_sum <= 0:
        raise ValueError("Cannot split by all-zero weights.")
    sign = -1 if total < 0 else 1
    magnitude = -total if total < 0 else total
    parts = []
    remainders = []
    allotted = 0
    for w in weights:
        q, r = divmod(magnitude * w, weight_sum)
        parts.append(q)
        remainders.append(r)
        allotted += q
    leftover = magnitude - allotted
    if leftover:
        order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
        for i in order[:leftover]:
            parts[i] += 1
    if sign < 0:
        return [-p for p in parts]
    return parts


def _split_equal(total: int, n: int) -> list[int]:
    sign = -1 if total < 0 else 1
    q, r = divmod(abs(total), n)
    return [sign * (q + 1 if i < r else q) for i in range(n)]
