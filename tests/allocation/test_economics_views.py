"""The product P&L page, the product page and ``costtrack reports pnl`` on the worked
example (``econ``): figures, scope per user (other units' ids), bounded queries."""

import json
import re

import pytest
from django.core.management import CommandError, call_command

from allocation import services
from allocation.models import AllocationRun
from tests.orgunits.factories import EntityFactory, UserFactory, finance_user

from .factories import MARCH, edge, node, usage

pytestmark = pytest.mark.django_db


def page(client, user, url):
    client.force_login(user)
    return client.get(url)


def product_url(econ, name):
    return f"/allocation/products/{econ[name].pk}/?run={econ['run'].pk}"


def test_the_pnl_page_shows_the_tree_its_roll_ups_and_a_chart(econ, client):
    r = page(client, finance_user(), "/allocation/pnl/")
    assert r.status_code == 200
    html = r.content.decode()
    for shown in (
        'id="product-{}"'.format(econ["checkout"].pk),
        "1,620.00",  # checkout's revenue
        "35.80 %",
        "Total suite",
        "1,970.00",  # suite rolled up
        "26.90 %",
        "-210.00",  # reporting's margin
        "reporting",
        "<svg",
        "Gross margin per product, March 2025",
        f"/api/v1/allocation/runs/{econ['run'].pk}/pnl/?format=csv",
    ):
        assert shown in html, shown
    assert '<strong id="total-margin">320.00</strong> (16.24 %)' in html
    # tree order: suite's subtree, then its total row
    order = [html.index(f'id="{k}-{econ[n].pk}"') for k, n in (
        ("product", "reporting"), ("product", "suite"), ("product", "checkout"),
        ("product", "search"), ("total", "suite"),
    )]  # fmt: skip
    assert order == sorted(order)


def test_a_member_sees_only_their_products_on_the_pnl_page(econ, client):
    html = page(client, econ["shopper"], "/allocation/pnl/").content.decode()
    assert "checkout" in html and "search" in html
    assert "reporting" not in html and "suite" not in html
    assert '<strong id="total-revenue">1,920.00</strong>' in html
    html = page(client, econ["banker"], "/allocation/pnl/").content.decode()
    assert "reporting" in html and "checkout" not in html
    html = page(client, UserFactory(), "/allocation/pnl/").content.decode()
    assert "No product you can see had cost or revenue in this run." in html


def test_the_product_page_shows_its_pnl_children_and_unit_costs(econ, client):
    r = page(client, finance_user(), product_url(econ, "suite"))
    html = r.content.decode()
    assert r.status_code == 200
    assert 'id="child-products"' in html and "Total suite" in html and "1,970.00" in html
    html = page(client, finance_user(), product_url(econ, "checkout")).content.decode()
    assert '<p class="figure" id="own-revenue">1,620.00</p>' in html
    assert '<p class="figure" id="own-margin">580.00</p>' in html
    assert "35.80 % of revenue" in html
    assert 'id="unit-cost-requests"' in html and "Cost per 1,000 requests" in html
    assert '<td class="num">2.6000</td>' in html  # March: 1,040.00 over 400,000 requests
    assert f"/allocation/products/{econ['suite'].pk}/" in html  # breadcrumb to its parent
    html = page(client, finance_user(), product_url(econ, "reporting")).content.decode()
    assert "what it keeps of 350.00 after passing 140.00 on to other products" in html
    assert "No usage is recorded for reporting" in html


def test_the_product_page_of_another_units_product_is_404(econ, client):
    for user, others in (
        (econ["shopper"], ("reporting", "suite", "db", "k8s")),
        (econ["banker"], ("checkout", "search", "suite")),
        (UserFactory(), ("checkout", "reporting")),
    ):
        for name in others:
            assert page(client, user, product_url(econ, name)).status_code == 404, (user, name)
    assert page(client, econ["shopper"], product_url(econ, "checkout")).status_code == 200
    assert page(client, finance_user(), product_url(econ, "db")).status_code == 404  # no product


def test_unknown_and_unfinished_runs_are_404(econ, client):
    pending = AllocationRun.objects.create(
        period_start=MARCH["period_start"], period_end=MARCH["period_end"], currency="USD"
    )
    fin = finance_user()
    for url in (
        "/allocation/pnl/?run=999999",
        f"/allocation/pnl/?run={pending.pk}",
        "/allocation/pnl/?run=abc",
        f"/allocation/products/{econ['checkout'].pk}/?run={pending.pk}",
    ):
        assert page(client, fin, url).status_code == 404, url


def test_the_pages_need_a_login(econ, client):
    for url in ("/allocation/pnl/", product_url(econ, "checkout")):
        r = client.get(url)
        assert r.status_code == 302 and "/login/" in r["Location"]


def test_the_explorer_links_to_the_pnl_and_product_pages(econ, client):
    html = page(client, finance_user(), "/allocation/").content.decode()
    assert f'href="/allocation/pnl/?run={econ["run"].pk}"' in html
    assert f'href="/allocation/products/{econ["checkout"].pk}/?run={econ["run"].pk}"' in html


def test_the_pages_run_a_bounded_number_of_queries(econ, client, django_assert_max_num_queries):
    for i in range(25):
        product = node(
            f"extra-{i}",
            entity=EntityFactory(organization_unit=econ["shop"]),
            parent_product=econ["checkout"] if i % 2 else None,
        )
        edge(econ["k8s"], product, "proportional", {"metric": "cpu_hours"})
        usage(product, "cpu_hours", 1)
        services.revenue_set(node=product, date=MARCH["period_start"], amount=i + 1)
    run = services.allocation_run(**MARCH)
    for user in (finance_user(), econ["shopper"]):
        client.force_login(user)
        for url in (
            f"/allocation/pnl/?run={run.pk}",
            f"/allocation/products/{econ['checkout'].pk}/?run={run.pk}",
        ):
            with django_assert_max_num_queries(14):
                r = client.get(url)
            assert r.status_code == 200
            assert r.content.decode().count("extra-") >= 12


def test_reports_pnl_prints_the_worked_example(econ, capsys):
    call_command("reports", "pnl", "--period", "2025-03")
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"Product P&L, run #{econ['run'].pk} 2025-03-01 – 2025-03-31 (USD)"
    assert any(line.split()[:2] == ["checkout", "1,620.00"] and "35.80 %" in line for line in lines)
    assert any(line.strip().startswith("Total suite") and "1,970.00" in line for line in lines)
    assert lines[-1].split() == [
        "Total", "1,970.00", "30.00", "1,620.00", "1,650.00", "320.00", "16.24", "%",
    ]  # fmt: skip
    call_command("reports", "pnl", "--period", "2025-03", "--format", "json")
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["gross_margin"] == "320.00"
    call_command("reports", "pnl", "--run", str(econ["run"].pk), "--format", "csv")
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("node,name,parent_product,depth,final_cost_centre,revenue")
    assert rows[-1].startswith(",Total,,,,1970.00,30.00,1620.00,1650.00,320.00,16.24")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2025-04"], "No successful allocation run of 2025-04"),
        (["--period", "2025"], "Give --period YYYY-MM (a month) or --run ID."),
        ([], "Give --period YYYY-MM (a month) or --run ID."),
        (["--run", "999999"], "--run: no successful allocation run #999999."),
    ],
)
def test_reports_pnl_refuses_bad_arguments(econ, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("reports", "pnl", *args)
