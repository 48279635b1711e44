"""Strategy parameters and the rules a parent's edges must follow together."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from .datatypes import (
    CAPPED_PROPORTIONAL,
    EQUAL,
    FIXED_PERCENT,
    HYBRID_FIXED_PROPORTIONAL,
    MAX_WINDOW_DAYS,
    MIN_FLOOR_PROPORTIONAL,
    PERCENT_DECIMALS,
    PERCENT_SCALE,
    PROPORTIONAL,
    RESIDUAL_TO_MAX,
    STRATEGIES,
    WEIGHTED_AVERAGE,
    Edge,
    ParameterError,
)

_ALLOWED_KEYS: dict[str, tuple[set[str], set[str]]] = {
    # strategy: (required keys, optional keys)
    EQUAL: (set(), set()),
    PROPORTIONAL: ({"metric"}, set()),
    FIXED_PERCENT: ({"percent"}, set()),
    CAPPED_PROPORTIONAL: ({"metric", "cap"}, set()),
    RESIDUAL_TO_MAX: ({"metric"}, set()),
    WEIGHTED_AVERAGE: ({"metric", "window_days"}, {"decay"}),
    HYBRID_FIXED_PROPORTIONAL: ({"metric", "fixed_percent"}, set()),
    MIN_FLOOR_PROPORTIONAL: ({"metric", "floor_percent"}, set()),
}


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise ParameterError(f"'{name}' must be a number given as a string or an integer.")
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        raise ParameterError(f"'{name}' must be a number, not {value!r}.") from None
    if not number.is_finite():
        raise ParameterError(f"'{name}' must be a finite number.")
    return number


def _percent_units(value: Any, name: str, *, allow_zero: bool = False) -> int:
    number = _decimal(value, name)
    lowest_ok = number >= 0 if allow_zero else number > 0
    if not lowest_ok or number > 100:
        bound = "between 0 and 100" if allow_zero else "above 0 and at most 100"
        raise ParameterError(f"'{name}' must be a percentage {bound}, not {value}.")
    units = number.scaleb(PERCENT_DECIMALS)
    if units != units.to_integral_value():
        raise ParameterError(f"'{name}' allows at most {PERCENT_DECIMALS} decimal places.")
    return int(units)


def validate_parameters(
    strategy: str, params: Mapping[str, Any] | None, *, minor_digits: int = 2
) -> dict[str, Any]:
    """Check a strategy's parameters; return them normalised (numbers as strings).

    Raises ``ParameterError`` naming the strategy and the offending key.
    """
    if strategy not in _ALLOWED_KEYS:
        raise ParameterError(
            f"Unknown strategy '{strategy}'. Choose one of: {', '.join(STRATEGIES)}.",
            field="strategy",
        )
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ParameterError("Parameters must be a JSON object.")
    required, optional = _ALLOWED_KEYS[strategy]
    unknown = set(params) - required - optional
    if unknown:
        raise ParameterError(
            f"Strategy '{strategy}' does not take: {', '.join(sorted(unknown))}."
            + (f" It takes: {', '.join(sorted(required | optional))}." if required else "")
        )
    missing = required - set(params)
    if missing:
        raise ParameterError(f"Strategy '{strategy}' needs: {', '.join(sorted(missing))}.")
    clean: dict[str, Any] = {}
    if "metric" in required:
        metric = params["metric"]
        if not isinstance(metric, str) or not metric.strip() or len(metric) > 64:
            raise ParameterError("'metric' must be a usage metric name such as 'cpu_hours'.")
        clean["metric"] = metric.strip()
    if strategy == FIXED_PERCENT:
        _percent_units(params["percent"], "percent")
        clean["percent"] = str(_decimal(params["percent"], "percent"))
    if strategy == CAPPED_PROPORTIONAL:
        cap = _decimal(params["cap"], "cap")
        if cap < 0:
            raise ParameterError("'cap' must not be negative.")
        exponent = cap.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > minor_digits:
            raise ParameterError(f"'cap' allows at most {minor_digits} decimal places.")
        clean["cap"] = str(cap)
    if strategy == WEIGHTED_AVERAGE:
        window = params["window_days"]
        if (
            isinstance(window, bool)
            or not isinstance(window, int)
            or not (1 <= window <= MAX_WINDOW_DAYS)
        ):
            raise ParameterError(
                f"'window_days' must be a whole number of days from 1 to {MAX_WINDOW_DAYS}."
            )
        clean["window_days"] = window
        if params.get("decay") is not None:
            decay = _decimal(params["decay"], "decay")
            if not (0 < decay <= 1):
                raise ParameterError("'decay' must be above 0 and at most 1.")
            clean["decay"] = str(decay)
    if strategy == HYBRID_FIXED_PROPORTIONAL:
        _percent_units(params["fixed_percent"], "fixed_percent", allow_zero=True)
        clean["fixed_percent"] = str(_decimal(params["fixed_percent"], "fixed_percent"))
    if strategy == MIN_FLOOR_PROPORTIONAL:
        _percent_units(params["floor_percent"], "floor_percent", allow_zero=True)
        clean["floor_percent"] = str(_decimal(params["floor_percent"], "floor_percent"))
    return clean


def validate_overrides(
    overrides: Mapping[str, Any] | None, *, minor_digits: int = 2
) -> dict[str, dict[str, Any]]:
    """``{dimension: {"strategy": ..., "parameters": {...}}}``, each rule validated."""
    if not overrides:
        return {}
    if not isinstance(overrides, Mapping):
        raise ParameterError(
            "Overrides must be a JSON object keyed by dimension.", field="overrides"
        )
    clean = {}
    for dimension, rule in overrides.items():
        if not isinstance(dimension, str) or not dimension or len(dimension) > 32:
            raise ParameterError("Override keys must be dimension names.", field="overrides")
        if not isinstance(rule, Mapping) or "strategy" not in rule:
            raise ParameterError(
                f"The override for '{dimension}' needs a 'strategy' (and 'parameters').",
                field="overrides",
            )
        extra = set(rule) - {"strategy", "parameters"}
        if extra:
            raise ParameterError(
                f"The override for '{dimension}' does not take: {', '.join(sorted(extra))}.",
                field="overrides",
            )
        try:
            params = validate_parameters(
                rule["strategy"], rule.get("parameters") or {}, minor_digits=minor_digits
            )
        except ParameterError as exc:
            raise ParameterError(
                f"Override for '{dimension}': {exc.message}", field="overrides"
            ) from None
        clean[dimension] = {"strategy": rule["strategy"], "parameters": params}
    return clean


def fixed_share_units(edges: Iterable[Edge], dimension: str | None = None) -> int:
    """The sum of the ``fixed_percent`` shares of a parent's edges, in percent units."""
    total = 0
    for edge in edges:
        strategy, params = edge.rule_for(dimension) if dimension else (edge.strategy, edge.params)
        if strategy == FIXED_PERCENT:
            total += _percent_units(params.get("percent"), "percent")
    return total


def check_parent_rules(
    edges: Sequence[Edge],
    names: Mapping[int, str] | None = None,
    *,
    fixed_shares: bool = True,
    one_rule: bool = True,
) -> None:
    """Refuse a parent's edges that the engine cannot split as one rule per dimension.

    Per dimension (the base rule and every overridden dimension): the ``fixed_percent``
    shares total at most 100 % (``fixed_shares``); the other edges share one strategy and its
    parameters, only ``cap`` differing per child, and ``min_floor_proportional`` floors total
    at most 100 % (``one_rule``). Raises ``ParameterError`` naming the nodes.

    The flags let a caller check the shares of the edges active on the same day apart from
    the rule that all the parent's edges share.
    """
    names = names or {}

    def label(node_id: int) -> str:
        return f"'{names.get(node_id, node_id)}'"

    if not edges:
        return
    parent = label(edges[0].parent)
    dimensions: list[str | None] = [None]
    for edge in edges:
        dimensions.extend(d for d in (edge.overrides or {}) if d not in dimensions)
    for dim in dimensions:
        rules = [(e, *(e.rule_for(dim) if dim else (e.strategy, e.params))) for e in edges]
        where = f" for dimension '{dim}'" if dim else ""
        fixed = [(e, p) for e, s, p in rules if s == FIXED_PERCENT]
        total = sum(_percent_units(p.get("percent"), "percent") for _, p in fixed)
        if fixed_shares and total > PERCENT_SCALE:
            shares = ", ".join(f"{label(e.child)} {p['percent']} %" for e, p in fixed)
            raise ParameterError(
                f"The fixed shares of {parent}{where} would total "
                f"{Decimal(total).scaleb(-PERCENT_DECIMALS).normalize():f} %, above 100 % "
                f"({shares}).",
                field="parameters",
            )
        others = [(e, s, p) for e, s, p in rules if s != FIXED_PERCENT]
        if not one_rule or not others:
            continue
        first_edge, first_strategy, first_params = others[0]
        shared = {k: v for k, v in first_params.items() if k != "cap"}
        for edge, strategy, params in others[1:]:
            if strategy != first_strategy or {k: v for k, v in params.items() if k != "cap"} != (
                shared
            ):
                raise ParameterError(
                    f"The edges from {parent}{where} must split by one rule: "
                    f"{label(first_edge.child)} uses '{first_strategy}' {shared or ''}, "
                    f"{label(edge.child)} uses '{strategy}' "
                    f"{ {k: v for k, v in params.items() if k != 'cap'} or '' }.".replace(
                        " .", "."
                    ),
                    field="strategy",
                )
        if first_strategy == MIN_FLOOR_PROPORTIONAL:
            floor = _percent_units(first_params["floor_percent"], "floor_percent", allow_zero=True)
            if floor * len(others) > PERCENT_SCALE:
                raise ParameterError(
                    f"The floors of {parent}{where} would total more than 100 % "
                    f"({len(others)} children × {first_params['floor_percent']} %).",
                    field="parameters",
                )
