"""The allocation benchmark runs end to end on a small graph and reports clean runs."""

import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from allocation import bench, engine
from allocation.models import AllocationRun, CostNode
from costtrack.core.models import Job

pytestmark = pytest.mark.django_db


def test_synthetic_graph_is_a_valid_dag_with_the_requested_size():
    inp = bench.build_graph(nodes=300, edges=1200, dimensions=3)
    assert len(inp.nodes) == 300
    assert len(inp.edges) == 1200
    outcome = engine.allocate(inp)
    assert outcome.invariants.violations == []
    assert outcome.invariants.conservation_delta == 0


@override_settings(COSTTRACK_RECOMMENDATIONS_AUTO=True)  # as deployed: a run queues a job
def test_bench_command_prints_compute_and_run_lines_at_two_sizes(capsys):
    call_command("bench", "allocation", "--rows", "80", "--repeat", "1")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["scenario"], x["nodes"]) for x in lines] == [
        ("allocation.compute", 80),
        ("allocation.run", 80),
        ("allocation.compute", 160),
        ("allocation.run", 160),
    ]
    assert all(x["violations"] == 0 for x in lines)
    assert lines[1]["floor_s"] > 0 and lines[1]["ratio"] > 0
    # the throwaway schema is gone; nothing was written to the real tables
    assert AllocationRun.objects.count() == 0
    assert CostNode.objects.count() == 0
    assert Job.objects.count() == 0


def test_allocation_bench_subcommand_takes_nodes_edges_and_dimensions(capsys):
    call_command(
        "allocation", "bench", "--nodes", "40", "--edges", "100", "--dimensions", "2",
        "--repeat", "1",
    )  # fmt: skip
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["nodes"], x["edges"], x["dimensions"]) for x in lines] == [
        (40, 100, 2),
        (40, 100, 2),
        (80, 200, 2),
        (80, 200, 2),
    ]
    assert all(x["violations"] == 0 for x in lines)


def test_shared_bench_command_passes_graph_sizes_to_the_allocation_scenario(capsys):
    call_command(
        "bench", "allocation", "--nodes", "30", "--edges", "90", "--dimensions", "2",
        "--repeat", "1",
    )  # fmt: skip
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["nodes"], x["edges"], x["dimensions"]) for x in lines] == [
        (30, 90, 2),
        (30, 90, 2),
        (60, 180, 2),
        (60, 180, 2),
    ]


def test_shared_bench_command_refuses_graph_sizes_for_other_scenarios():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--nodes does not apply to the rollup scenario"):
        call_command("bench", "rollup", "--nodes", "30")
