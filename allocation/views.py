"""Page: the product cost explorer — holistic cost per product, coverage, and one product's
cost explained path by path.

Finance and auditors see every product and the run's organisation-wide figures; anyone
else sees the products of their units (``allocation.selectors``) and no organisation totals.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from costtrack.core.exceptions import NotFound

from . import selectors
from .diagram import NodeInput, flow_diagram
from .models import CostNode

CHART_WIDTH = 320


@login_required
@require_http_methods(["GET", "HEAD"])
def explorer(request: HttpRequest) -> HttpResponse:
    """``/allocation/?run=&node=``: the latest successful run unless ``run`` is given."""
    try:
        run = (
            selectors.run_get(run_id=request.GET["run"], user=request.user)
            if request.GET.get("run")
            else selectors.latest_run(user=request.user)
        )
    except NotFound:
        raise Http404("No such allocation run.") from None
    runs = list(selectors.run_list(user=request.user)[:12])
    products, explanation, diagram = [], None, None
    if run is not None:
        products = selectors.product_costs(run=run, user=request.user)
        largest = max((abs(p["final"]) for p in products), default=0)
        for p in products:
            p["bar"] = int(CHART_WIDTH * abs(p["final"]) / largest) if largest else 0
        node_id = request.GET.get("node")
        if node_id:
            node = selectors.node_list(user=request.user).filter(pk=_int_or_404(node_id)).first()
            if node is None:
                raise Http404("No such node.")
            explanation = selectors.explain_node(run=run, node=node)
        diagram = _diagram(run, request.user, explanation["node"] if explanation else None)
    return render(
        request,
        "allocation/explorer.html",
        {
            "run": run,
            "runs": runs,
            "products": products,
            "explanation": explanation,
            "diagram": diagram,
            "chart_width": CHART_WIDTH,
            "product_kind": CostNode.Kind.PRODUCT,
            "organisation_figures": selectors.sees_all_nodes(request.user),
        },
    )


def _diagram(run, user, highlight: int | None):
    """The run's flow diagram as the user may see it, the explained node's sources marked."""
    nodes, flows = selectors.run_flow_graph(run=run, user=user)
    inputs = {n: NodeInput(id=n, **info) for n, info in nodes.items()}
    return flow_diagram(nodes=inputs, flows=flows, highlight=highlight)


def _int_or_404(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Http404("No such node.") from None
