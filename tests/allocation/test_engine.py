"""The pure allocation engine: worked examples, one test per strategy, validation, properties."""

import copy
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation import engine
from allocation.engine import AllocationInput, Edge, Node, Usage
from costtrack.core.money import split_minor_units

MARCH = {"period_start": date(2025, 3, 1), "period_end": date(2025, 3, 31)}


def run(nodes, edges, direct, usage=(), **kwargs):
    return engine.allocate(
        AllocationInput(nodes=nodes, edges=edges, direct=direct, usage=usage, **{**MARCH, **kwargs})
    )


def usage(node, metric, quantity, day=date(2025, 3, 15), dimension=""):
    return Usage(node, metric, day, quantity * 10**6, dimension)


def holistic(outcome, node):
    return outcome.holistic(node)


# --- the worked examples of the issue --------------------------------------------------


def test_example_1_resource_to_single_product():
    compute, web_app = 1, 2
    outcome = run(
        [Node(compute, "resource", "compute"), Node(web_app, "product", "web_app")],
        [Edge(compute, web_app)],
        {(compute, "compute"): 100_00},
    )
    assert holistic(outcome, web_app) == 100_00
    assert outcome.invariants.coverage == 1
    assert outcome.final_cost_centres == [web_app]


def test_example_2_shared_database_split_equally_three_ways():
    db, web, api, mobile = 1, 2, 3, 4
    outcome = run(
        [Node(db, "shared_service"), Node(web), Node(api), Node(mobile)],
        [Edge(db, web), Edge(db, api), Edge(db, mobile)],
        {(db, "database"): 300_00},
    )
    assert [holistic(outcome, n) for n in (web, api, mobile)] == [100_00, 100_00, 100_00]
    assert outcome.invariants.allocated == 300_00


def test_example_3_kubernetes_proportional_on_cpu_hours():
    k8s, web, api = 1, 2, 3
    rule = {"metric": "cpu_hours"}
    outcome = run(
        [Node(k8s, "platform"), Node(web), Node(api)],
        [Edge(k8s, web, "proportional", rule), Edge(k8s, api, "proportional", rule)],
        {(k8s, "compute"): 500_00},
        [usage(web, "cpu_hours", 1000), usage(api, "cpu_hours", 4000)],
    )
    assert holistic(outcome, web) == 100_00
    assert holistic(outcome, api) == 400_00


def test_example_4_full_product_roll_up():
    k8s, component, suite = 1, 2, 3
    outcome = run(
        [Node(k8s, "platform"), Node(component), Node(suite)],
        [Edge(k8s, component), Edge(component, suite, "fixed_percent", {"percent": "100"})],
        {(k8s, "compute"): 500_00},
    )
    assert outcome.final_cost_centres == [suite]
    assert holistic(outcome, suite) == 500_00
    assert outcome.retained(component) == 0
    assert outcome.invariants.allocated == 500_00
    assert outcome.invariants.unallocated == 0


def test_example_5_partial_roll_up_keeps_the_residual_at_the_base_product():
    base, enterprise, premium = 1, 2, 3
    outcome = run(
        [Node(base), Node(enterprise), Node(premium)],
        [
            Edge(base, enterprise, "fixed_percent", {"percent": "30"}),
            Edge(base, premium, "fixed_percent", {"percent": "50"}),
        ],
        {(base, "other"): 1000_00},
    )
    assert holistic(outcome, enterprise) == 300_00
    assert holistic(outcome, premium) == 500_00
    assert outcome.retained(base) == 200_00
    assert outcome.final_cost_centres == [base, enterprise, premium]
    assert sum(outcome.retained(n) for n in outcome.final_cost_centres) == 1000_00
    assert outcome.invariants.coverage == 1


def test_example_6_one_hundred_dollars_three_ways_sums_to_the_whole():
    src, a, b, c = 1, 2, 3, 4
    outcome = run(
        [Node(src, "shared_service"), Node(a), Node(b), Node(c)],
        [Edge(src, a), Edge(src, b), Edge(src, c)],
        {(src, "compute"): 100_00},
    )
    assert [holistic(outcome, n) for n in (a, b, c)] == [33_34, 33_33, 33_33]


# --- one test per strategy -------------------------------------------------------------


def fan(strategy, params_per_child, direct=1000_00, usages=(), active=(True, True, True)):
    parent = 1
    children = [2, 3, 4][: len(params_per_child)]
    nodes = [Node(parent, "shared_service")] + [
        Node(c, active=active[i]) for i, c in enumerate(children)
    ]
    edges = [Edge(parent, c, strategy, p) for c, p in zip(children, params_per_child, strict=True)]
    outcome = run(nodes, edges, {(parent, "compute"): direct}, usages)
    return outcome, [holistic(outcome, c) for c in children], outcome.retained(parent)


def test_equal_skips_inactive_children():
    outcome, parts, kept = fan("equal", [{}, {}, {}], active=(True, False, True))
    assert parts == [500_00, 0, 500_00]
    assert kept == 0


def test_equal_with_no_active_child_carries_the_loss_forward():
    outcome, parts, kept = fan("equal", [{}, {}], active=(False, False))
    assert parts == [0, 0]
    assert kept == 1000_00
    result = outcome.result_map()[(1, "compute")]
    assert result.carried_forward == 1000_00
    assert outcome.invariants.carried_forward == 1000_00
    assert outcome.invariants.unallocated == 1000_00
    assert [row.kind for row in outcome.ledger if row.kind == "loss_forward"] == [
        "loss_forward"
    ] * 2


def test_proportional_falls_back_to_equal_without_usage():
    rule = {"metric": "requests"}
    _, parts, _ = fan("proportional", [rule, rule, rule], direct=100_00)
    assert parts == [33_34, 33_33, 33_33]


def test_proportional_counts_only_the_period_and_matching_dimension():
    rule = {"metric": "gb"}
    usages = [
        usage(2, "gb", 1),
        usage(3, "gb", 3),
        usage(3, "gb", 100, day=date(2025, 2, 28)),  # before the period
        usage(2, "gb", 100, dimension="storage"),  # another dimension
    ]
    _, parts, _ = fan("proportional", [rule, rule], direct=100_00, usages=usages)
    assert parts == [25_00, 75_00]


def test_fixed_percent_keeps_the_rest_at_the_parent():
    _, parts, kept = fan("fixed_percent", [{"percent": "12.5"}, {"percent": "37.5"}])
    assert parts == [125_00, 375_00]
    assert kept == 500_00


def test_fixed_percent_leaves_the_rest_to_the_other_children():
    parent, a, b, c = 1, 2, 3, 4
    outcome = run(
        [Node(parent, "platform"), Node(a), Node(b), Node(c)],
        [Edge(parent, a, "fixed_percent", {"percent": "40"}), Edge(parent, b), Edge(parent, c)],
        {(parent, "compute"): 100_00},
    )
    assert [holistic(outcome, n) for n in (a, b, c)] == [40_00, 30_00, 30_00]


def test_capped_proportional_leaves_the_excess_unallocated():
    usages = [usage(2, "cpu", 1), usage(3, "cpu", 3)]
    rules = [{"metric": "cpu", "cap": "1000"}, {"metric": "cpu", "cap": "500.00"}]
    outcome, parts, kept = fan("capped_proportional", rules, usages=usages)
    assert parts == [250_00, 500_00]
    assert kept == 250_00
    assert outcome.invariants.unallocated == 250_00
    assert outcome.invariants.coverage == pytest.approx(0.75)


def test_residual_to_max_gives_the_whole_remainder_to_the_highest_consumer():
    # The worked example of the strategy (docs/allocation.md): 1,000.00, one child at a fixed
    # 30 %, two residual_to_max children using 100 and 400. The 700.00 left after the fixed
    # share goes, all of it, to the child using 400.
    parent, fixed, small, large = 1, 2, 3, 4
    rule = {"metric": "requests"}
    outcome = run(
        [Node(parent, "shared_service"), Node(fixed), Node(small), Node(large)],
        [
            Edge(parent, fixed, "fixed_percent", {"percent": "30"}),
            Edge(parent, small, "residual_to_max", rule),
            Edge(parent, large, "residual_to_max", rule),
        ],
        {(parent, "compute"): 1000_00},
        [usage(small, "requests", 100), usage(large, "requests", 400)],
    )
    assert [holistic(outcome, n) for n in (fixed, small, large)] == [300_00, 0, 700_00]
    assert outcome.retained(parent) == 0
    assert [(f.child, f.amount) for f in outcome.flows] == [(fixed, 300_00), (large, 700_00)]
    assert outcome.invariants.violations == []


def test_residual_to_max_is_not_proportional():
    # Before the correction the strategy split in proportion to usage and only gave the
    # rounding cents to the largest consumer ([16, 16, 68] here), the same as proportional.
    # Now the largest consumer takes the whole amount.
    usages = [usage(2, "req", 1), usage(3, "req", 1), usage(4, "req", 4)]
    rule = {"metric": "req"}
    _, parts, kept = fan("residual_to_max", [rule, rule, rule], direct=1_00, usages=usages)
    assert (parts, kept) == ([0, 0, 1_00], 0)
    _, proportional, _ = fan("proportional", [rule, rule, rule], direct=1_00, usages=usages)
    assert proportional == [17, 17, 66]


def test_residual_to_max_tie_goes_to_the_lowest_node_id():
    usages = [usage(2, "req", 5), usage(3, "req", 9), usage(4, "req", 9)]
    rule = {"metric": "req"}
    _, parts, _ = fan("residual_to_max", [rule, rule, rule], direct=10_00, usages=usages)
    assert parts == [0, 10_00, 0]  # nodes 3 and 4 tie at 9: node 3 has the lower id


def test_residual_to_max_passes_a_credit_whole_to_the_highest_consumer():
    usages = [usage(2, "req", 3), usage(3, "req", 1)]
    rule = {"metric": "req"}
    _, parts, kept = fan("residual_to_max", [rule, rule], direct=-50_01, usages=usages)
    assert (parts, kept) == ([-50_01, 0], 0)


# --- all-zero usage falls back to equal, for every usage-based strategy ----------------

ZERO_USAGE = [usage(2, "cpu", 0), usage(3, "cpu", 0), usage(4, "cpu", 0)]


def test_proportional_with_all_zero_usage_splits_equally():
    # usage before the period does not count
    usages = [*ZERO_USAGE, usage(2, "cpu", 50, day=date(2025, 2, 28))]
    _, parts, kept = fan("proportional", [{"metric": "cpu"}] * 3, direct=100_00, usages=usages)
    assert (parts, kept) == ([33_34, 33_33, 33_33], 0)


def test_capped_proportional_with_all_zero_usage_splits_equally_then_caps():
    rules = [
        {"metric": "cpu", "cap": "300"},
        {"metric": "cpu", "cap": "1000"},
        {"metric": "cpu", "cap": "1000"},
    ]
    outcome, parts, kept = fan("capped_proportional", rules, direct=1000_00, usages=ZERO_USAGE)
    # 333.34 / 333.33 / 333.33, the first capped at 300: its 33.34 stays unallocated
    assert (parts, kept) == ([300_00, 333_33, 333_33], 33_34)
    assert outcome.invariants.unallocated == 33_34


def test_residual_to_max_with_all_zero_usage_splits_equally():
    _, parts, kept = fan("residual_to_max", [{"metric": "cpu"}] * 3, 100_00, ZERO_USAGE)
    assert (parts, kept) == ([33_34, 33_33, 33_33], 0)


def test_weighted_average_with_no_usage_in_the_window_splits_equally():
    rule = {"metric": "cpu", "window_days": 7, "decay": "0.5"}
    usages = [*ZERO_USAGE, usage(2, "cpu", 80, day=date(2025, 3, 24))]  # a day too early
    _, parts, kept = fan("weighted_average", [rule] * 3, direct=100_00, usages=usages)
    assert (parts, kept) == ([33_34, 33_33, 33_33], 0)


def test_hybrid_with_all_zero_usage_splits_both_parts_equally():
    rule = {"metric": "cpu", "fixed_percent": "40"}
    _, parts, kept = fan("hybrid_fixed_proportional", [rule, rule], 100_01, ZERO_USAGE[:2])
    # fixed 40.00 → 20.00 + 20.00; the other 60.01 → 30.01 + 30.00
    assert (parts, kept) == ([50_01, 50_00], 0)


def test_min_floor_with_all_zero_usage_splits_the_rest_equally():
    rule = {"metric": "cpu", "floor_percent": "10"}
    _, parts, kept = fan("min_floor_proportional", [rule] * 3, 1000_00, ZERO_USAGE)
    # 100.00 floor each, then the other 700.00 → 233.34 / 233.33 / 233.33
    assert (parts, kept) == ([333_34, 333_33, 333_33], 0)


def test_weighted_average_uses_the_look_back_window_with_decay():
    rule = {"metric": "cpu", "window_days": 2, "decay": "0.5"}
    usages = [
        usage(2, "cpu", 10, day=date(2025, 3, 31)),  # age 0: weight 10
        usage(3, "cpu", 40, day=date(2025, 3, 30)),  # age 1: weight 20
        usage(3, "cpu", 999, day=date(2025, 3, 29)),  # outside the 2-day window
    ]
    _, parts, _ = fan("weighted_average", [rule, rule], direct=300_00, usages=usages)
    assert parts == [100_00, 200_00]


def test_weighted_average_without_decay_sums_the_window():
    rule = {"metric": "cpu", "window_days": 7}
    usages = [usage(2, "cpu", 1, day=date(2025, 3, 25)), usage(3, "cpu", 3, day=date(2025, 3, 31))]
    _, parts, _ = fan("weighted_average", [rule, rule], direct=100_00, usages=usages)
    assert parts == [25_00, 75_00]


def test_hybrid_splits_a_fixed_part_equally_and_the_rest_proportionally():
    rule = {"metric": "cpu", "fixed_percent": "40"}
    usages = [usage(2, "cpu", 1), usage(3, "cpu", 3)]
    _, parts, _ = fan("hybrid_fixed_proportional", [rule, rule], direct=1000_00, usages=usages)
    # 400 equally (200 + 200), 600 by usage (150 + 450)
    assert parts == [350_00, 650_00]


def test_min_floor_gives_each_child_its_floor_then_the_rest_proportionally():
    rule = {"metric": "cpu", "floor_percent": "10"}
    usages = [usage(2, "cpu", 0), usage(3, "cpu", 1), usage(4, "cpu", 1)]
    _, parts, _ = fan("min_floor_proportional", [rule] * 3, direct=1000_00, usages=usages)
    # 100 each, the remaining 700 split 0 : 350 : 350
    assert parts == [100_00, 450_00, 450_00]


def test_per_dimension_override_changes_the_rule_for_that_dimension():
    parent, a, b = 1, 2, 3
    override = {"storage": {"strategy": "proportional", "parameters": {"metric": "gb"}}}
    outcome = run(
        [Node(parent, "shared_service"), Node(a), Node(b)],
        [Edge(parent, a, overrides=override), Edge(parent, b, overrides=override)],
        {(parent, "compute"): 100_00, (parent, "storage"): 100_00},
        [usage(a, "gb", 9), usage(b, "gb", 1)],
    )
    results = outcome.result_map()
    assert results[(a, "compute")].holistic == 50_00
    assert results[(a, "storage")].holistic == 90_00
    assert results[(b, "storage")].holistic == 10_00


def test_credits_flow_like_costs_with_their_sign():
    outcome, parts, _ = fan("equal", [{}, {}, {}], direct=-100_00)
    assert parts == [-33_34, -33_33, -33_33]
    assert outcome.invariants.violations == []


def test_multiple_parents_add_up_at_the_child():
    db, k8s, web = 1, 2, 3
    outcome = run(
        [Node(db, "shared_service"), Node(k8s, "platform"), Node(web)],
        [Edge(db, web), Edge(k8s, web)],
        {(db, "database"): 70_00, (k8s, "compute"): 30_00},
    )
    assert holistic(outcome, web) == 100_00
    assert sorted((f.parent, f.amount) for f in outcome.flows) == [(1, 70_00), (2, 30_00)]


def test_a_shared_service_without_children_is_unallocated():
    outcome = run([Node(1, "shared_service"), Node(2)], [], {(1, "compute"): 5_00})
    assert outcome.invariants.unallocated == 5_00
    assert outcome.unallocated == {(1, "compute"): 5_00}
    assert outcome.invariants.coverage == 0


# --- validation ------------------------------------------------------------------------


def test_a_cycle_is_refused_naming_its_nodes():
    nodes = [Node(1, "platform", "k8s"), Node(2, "product", "a"), Node(3, "product", "b")]
    with pytest.raises(engine.CycleError) as excinfo:
        run(nodes, [Edge(1, 2), Edge(2, 3), Edge(3, 2)], {})
    assert excinfo.value.cycle == [2, 3, 2]
    assert "a → b → a" in str(excinfo.value)


@pytest.mark.parametrize(
    ("strategy", "params", "message"),
    [
        ("nope", {}, "Unknown strategy 'nope'"),
        ("equal", {"metric": "cpu"}, "does not take: metric"),
        ("proportional", {}, "needs: metric"),
        ("proportional", {"metric": ""}, "'metric' must be"),
        ("fixed_percent", {"percent": "120"}, "at most 100"),
        ("fixed_percent", {"percent": "0"}, "above 0"),
        ("fixed_percent", {"percent": 12.5}, "string or an integer"),
        ("fixed_percent", {"percent": "NaN"}, "finite"),
        ("capped_proportional", {"metric": "cpu", "cap": "-1"}, "must not be negative"),
        ("capped_proportional", {"metric": "cpu", "cap": "1.001"}, "at most 2 decimal"),
        ("weighted_average", {"metric": "cpu", "window_days": 0}, "window_days"),
        ("weighted_average", {"metric": "cpu", "window_days": 7, "decay": "2"}, "'decay'"),
        (
            "hybrid_fixed_proportional",
            {"metric": "cpu", "fixed_percent": "101"},
            "between 0 and 100",
        ),
        ("min_floor_proportional", {"metric": "cpu"}, "needs: floor_percent"),
    ],
)
def test_parameters_are_validated_per_strategy(strategy, params, message):
    with pytest.raises(engine.ParameterError) as excinfo:
        engine.validate_parameters(strategy, params)
    assert message in excinfo.value.message


def test_valid_parameters_are_normalised():
    assert engine.validate_parameters("fixed_percent", {"percent": 30}) == {"percent": "30"}
    assert engine.validate_parameters(
        "weighted_average", {"metric": " cpu ", "window_days": 30, "decay": "0.9"}
    ) == {"metric": "cpu", "window_days": 30, "decay": "0.9"}


def test_overrides_are_validated_per_dimension():
    with pytest.raises(engine.ParameterError) as excinfo:
        engine.validate_overrides({"storage": {"strategy": "proportional"}})
    assert "Override for 'storage'" in excinfo.value.message


# --- properties on random graphs -------------------------------------------------------

DIMENSIONS = ("compute", "storage", "network")
METRICS = ("cpu", "gb")


def _rules_for(draw, children, metric):
    """One valid rule per child: some children ``fixed_percent`` (at most 100 % together),
    the rest sharing one other strategy (``cap`` may differ per child)."""
    strategy = draw(st.sampled_from(engine.STRATEGIES))
    fixed = (
        set(draw(st.sets(st.sampled_from(children), max_size=len(children))))
        if strategy != engine.FIXED_PERCENT
        else set(children)
    )
    budget = 100
    rules = []
    for child in children:
        if child in fixed:
            percent = draw(st.integers(0, min(budget, 100)))
            if percent == 0:  # a zero share is not a share: give this child the other rule
                fixed.discard(child)
            else:
                budget -= percent
                rules.append((engine.FIXED_PERCENT, {"percent": str(percent)}))
                continue
        rules.append(
            (
                strategy if strategy != engine.FIXED_PERCENT else engine.EQUAL,
                {
                    engine.EQUAL: {},
                    engine.FIXED_PERCENT: {},
                    engine.PROPORTIONAL: {"metric": metric},
                    engine.CAPPED_PROPORTIONAL: {
                        "metric": metric,
                        "cap": str(draw(st.integers(0, 500))),
                    },
                    engine.RESIDUAL_TO_MAX: {"metric": metric},
                    engine.WEIGHTED_AVERAGE: {
                        "metric": metric,
                        "window_days": 40,
                        "decay": "0.9",
                    },
                    engine.HYBRID_FIXED_PROPORTIONAL: {"metric": metric, "fixed_percent": "25"},
                    engine.MIN_FLOOR_PROPORTIONAL: {"metric": metric, "floor_percent": "5"},
                }[strategy],
            )
        )
    return rules


@st.composite
def random_graphs(draw):
    """Plain data for a random input: (nodes, edges, direct, usage), each a list of tuples,
    so that a test can build the engine's input from it more than once."""
    n = draw(st.integers(min_value=1, max_value=200))
    kinds = draw(st.lists(st.sampled_from(engine.NODE_KINDS), min_size=n, max_size=n))
    active = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    nodes = [(i, kinds[i], f"n{i}", active[i]) for i in range(n)]
    by_parent = {}
    for child in range(1, n):
        for parent in draw(st.sets(st.integers(0, child - 1), max_size=min(3, child))):
            by_parent.setdefault(parent, []).append(child)
    edges = []
    for parent, children in by_parent.items():
        children = sorted(children)
        base = _rules_for(draw, children, draw(st.sampled_from(METRICS)))
        overrides = {child: {} for child in children}
        for dim in draw(st.sets(st.sampled_from(DIMENSIONS), max_size=2)):
            for child, (strategy, params) in zip(
                children, _rules_for(draw, children, draw(st.sampled_from(METRICS))), strict=True
            ):
                overrides[child][dim] = {"strategy": strategy, "parameters": params}
        for child, (strategy, params) in zip(children, base, strict=True):
            edges.append((parent, child, strategy, params, overrides[child]))
    direct = {}
    for i in draw(st.lists(st.integers(0, n - 1), max_size=40)):
        direct[(i, draw(st.sampled_from(DIMENSIONS)))] = draw(st.integers(0, 10**9))
    usages = [
        (
            draw(st.integers(0, n - 1)),
            draw(st.sampled_from(METRICS)),
            date(2025, 3, draw(st.integers(1, 31))),
            draw(st.integers(0, 10**9)),
            draw(st.sampled_from(("", *DIMENSIONS))),
        )
        for _ in range(draw(st.integers(0, 60)))
    ]
    return nodes, edges, sorted(direct.items()), usages


def build_input(spec, shuffle=None) -> AllocationInput:
    """A fresh ``AllocationInput`` from ``random_graphs`` data: new objects throughout (no
    parameter dict shared with another build), in the order given or shuffled."""
    nodes, edges, direct, usages = (list(part) for part in copy.deepcopy(spec))
    if shuffle is not None:
        for part in (nodes, edges, direct, usages):
            shuffle(part)
    return AllocationInput(
        [Node(*n) for n in nodes],
        [Edge(p, c, s, params, overrides) for p, c, s, params, overrides in edges],
        dict(direct),
        [Usage(*u) for u in usages],
        **MARCH,
    )


def _check_graph_writes_would_accept(inp: AllocationInput) -> None:
    """The generated rules are ones the services let through: parameters and overrides
    valid, one rule per parent and dimension, fixed shares at most 100 %."""
    by_parent = {}
    for edge in inp.edges:
        engine.validate_parameters(edge.strategy, edge.params)
        engine.validate_overrides(edge.overrides)
        by_parent.setdefault(edge.parent, []).append(edge)
    for group in by_parent.values():
        engine.check_parent_rules(sorted(group, key=lambda e: e.child))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(), st.randoms(use_true_random=False))
def test_invariants_hold_on_random_graphs(spec, rnd):
    inp = build_input(spec)
    _check_graph_writes_would_accept(inp)
    outcome = engine.allocate(inp)
    inv = outcome.invariants
    raw = sum(inp.direct.values())
    # conservation to the cent
    assert inv.raw == raw
    assert inv.allocated + inv.unallocated == raw
    assert inv.conservation_delta == 0
    # no amplification, and nothing negative from non-negative inputs
    assert 0 <= inv.allocated <= raw
    assert all(f.amount > 0 for f in outcome.flows)
    for r in outcome.results:
        assert 0 <= r.allocated_out + r.carried_forward <= r.holistic
        assert min(r.direct, r.received, r.holistic, r.retained) >= 0
    # ledger balanced
    assert sum(x.debit for x in outcome.ledger) == sum(x.credit for x in outcome.ledger)
    assert inv.violations == []
    # determinism: the same input built again, in another order, gives the same outcome
    # and the same fingerprint
    again_input = build_input(spec, shuffle=rnd.shuffle)
    again = engine.allocate(again_input)
    assert again.result_map() == outcome.result_map()
    assert sorted(again.flows) == sorted(outcome.flows)
    assert again.invariants == outcome.invariants
    assert engine.fingerprint(again_input) == engine.fingerprint(inp)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(), st.data())
def test_the_fingerprint_changes_with_any_input(spec, data):
    nodes, edges, direct, usages = spec
    before = engine.fingerprint(build_input(spec))
    changes = ["period"]
    if direct:
        changes.append("direct")
    if usages:
        changes.append("usage")
    if edges:
        changes.append("edge")
    change = data.draw(st.sampled_from(changes))
    if change == "period":
        changed = build_input(spec)
        changed.period_end = date(2025, 3, 30)
    elif change == "direct":
        (key, amount), *rest = direct
        changed = build_input((nodes, edges, [(key, amount + 1), *rest], usages))
    elif change == "usage":
        (node_, metric, day, quantity, dim), *rest = usages
        changed = build_input(
            (nodes, edges, direct, [(node_, metric, day, quantity + 1, dim), *rest])
        )
    else:
        (parent, child, strategy, params, overrides), *rest = edges
        overrides = {**overrides, "zzz": {"strategy": "equal", "parameters": {}}}
        changed = build_input(
            (nodes, [(parent, child, strategy, params, overrides), *rest], direct, usages)
        )
    assert engine.fingerprint(changed) != before


@settings(max_examples=100, deadline=None)
@given(
    st.integers(-(10**12), 10**12),
    st.lists(st.integers(0, 10**6), min_size=1, max_size=20).filter(any),
)
def test_integer_split_agrees_with_the_money_helper(total, weights):
    assert engine.split_by_weights(total, weights) == split_minor_units(total, weights)
    assert sum(engine.split_by_weights(total, weights)) == total
