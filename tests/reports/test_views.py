"""Dashboard, unit and resource pages: figures to the cent, charts with readable data,
other units' pages refused, a bounded number of queries."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from costs import reports
from costs.models import CostStatus
from tests.orgunits.factories import (
    OrganizationUnitFactory,
    ResourceFactory,
    UserFactory,
    finance_user,
)

from .factories import CostCategoryFactory, CostFactory

pytestmark = pytest.mark.django_db


def _month(offset: int) -> date:
    return reports.add_months(timezone.localdate().replace(day=1), offset)


@pytest.fixture
def org():
    company = OrganizationUnitFactory(name="Acme", code="acme")
    eng = OrganizationUnitFactory(name="Engineering", code="eng", parent=company)
    web = OrganizationUnitFactory(name="Web team", code="web", parent=eng)
    sales = OrganizationUnitFactory(name="Sales", code="sales", parent=company)
    vm = ResourceFactory(organization_unit=web, name="web-vm-1")
    compute = CostCategoryFactory(slug="view-compute", name="Compute")
    this, last = _month(0), _month(-1)
    CostFactory(
        organization_unit=web,
        resource=vm,
        category=compute,
        amount=Decimal("1234.56"),
        incurred_on=this,
    )
    CostFactory(organization_unit=eng, category=compute, amount=Decimal("100.00"), incurred_on=this)
    CostFactory(
        organization_unit=web,
        resource=vm,
        category=compute,
        amount=Decimal("200.00"),
        incurred_on=last,
    )
    CostFactory(organization_unit=sales, amount=Decimal("55.00"), incurred_on=this)
    CostFactory(
        organization_unit=web, amount=Decimal("999.00"), incurred_on=this, status=CostStatus.PENDING
    )
    member = UserFactory()
    eng.memberships.create(user=member)
    return {"company": company, "eng": eng, "web": web, "sales": sales, "vm": vm,
            "member": member}  # fmt: skip


def test_dashboard_shows_this_and_last_month_trend_and_top_units(
    client, org, django_assert_max_num_queries
):
    client.force_login(finance_user())
    with django_assert_max_num_queries(16):
        r = client.get("/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="spend-this-month">1,389.56 USD' in html
    assert 'id="spend-last-month">200.00 USD' in html
    assert "594.8 % compared with last month" in html
    assert html.count('role="img"') == 2  # trend and top units
    assert f'<th scope="row">{_month(0):%b %Y}</th><td class="num">1,389.56</td>' in html
    assert '<th scope="row">Engineering</th><td class="num">1,334.56</td>' in html
    assert '<th scope="row">Sales</th><td class="num">55.00</td>' in html
    assert f'href="/units/{org["eng"].pk}/"' in html


def test_dashboard_for_a_member_counts_only_their_units(client, org):
    client.force_login(org["member"])
    html = client.get("/").content.decode()
    assert 'id="spend-this-month">1,334.56 USD' in html
    assert "Sales" not in html


def test_dashboard_queries_do_not_grow_with_data(client, org, django_assert_max_num_queries):
    for i in range(30):
        unit = OrganizationUnitFactory(parent=org["eng"])
        CostFactory(organization_unit=unit, amount=Decimal(i + 1), incurred_on=_month(-(i % 12)))
    client.force_login(finance_user())
    with django_assert_max_num_queries(16):
        assert client.get("/").status_code == 200


def test_unit_page_breaks_down_by_subunit_category_and_resource(
    client, org, django_assert_max_num_queries
):
    client.force_login(org["member"])
    with django_assert_max_num_queries(20):
        r = client.get(f"/units/{org['eng'].pk}/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="unit-total">1,534.56 USD' in html
    assert 'id="unit-own">100.00 USD' in html
    assert '<th scope="row">Web team</th><td class="num">1,434.56</td>' in html
    assert '<th scope="row">view-compute</th><td class="num">1,534.56</td>' in html
    assert '<th scope="row">web-vm-1</th><td class="num">1,434.56</td>' in html
    assert f'href="/resources/{org["vm"].pk}/"' in html
    assert "<svg" in html and "<title>" in html and 'aria-label="' in html


def test_other_units_and_resources_are_not_found(client, org):
    client.force_login(org["member"])
    assert client.get(f"/units/{org['sales'].pk}/").status_code == 404
    assert client.get(f"/units/{org['company'].pk}/").status_code == 404
    assert client.get("/units/999999/").status_code == 404
    other_vm = ResourceFactory(organization_unit=org["sales"])
    assert client.get(f"/resources/{other_vm.pk}/").status_code == 404


def test_resource_page(client, org, django_assert_max_num_queries):
    client.force_login(org["member"])
    with django_assert_max_num_queries(16):
        r = client.get(f"/resources/{org['vm'].pk}/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="resource-total">1,434.56 USD' in html
    assert '<th scope="row">USD</th><td class="num">1,434.56</td>' in html


def test_pages_need_login(client, org):
    assert client.get("/").status_code == 302
    assert client.get(f"/units/{org['eng'].pk}/").status_code == 302


def test_dashboard_lists_my_pending_approvals_and_budget_bars(client, org):
    from tests.budgets.factories import BudgetFactory

    approver = UserFactory()
    org["eng"].memberships.create(user=approver)
    waiting = CostFactory(
        organization_unit=org["web"],
        amount=Decimal("42.00"),
        status=CostStatus.PENDING,
        approver=approver,
        submitted_at=timezone.now(),
        description="GPU hours",
    )
    BudgetFactory(name="Eng monthly", organization_unit=org["eng"], amount=Decimal("2000"))
    client.force_login(approver)
    html = client.get("/").content.decode()
    assert 'id="pending-count">1<' in html
    assert f'href="/costs/{waiting.pk}/">GPU hours #{waiting.pk}</a> · 42.00 USD' in html
    assert "Eng monthly" in html and 'role="meter"' in html


def test_dashboard_for_someone_without_units(client, org):
    client.force_login(UserFactory())
    html = client.get("/").content.decode()
    assert 'id="spend-this-month">0.00 USD' in html
    assert "No approved spend in your units this month." in html
    assert 'id="pending-count">0<' in html


def _page_queries(client, url: str) -> tuple[int, str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


@pytest.mark.parametrize("page", ["unit", "resource"])
def test_unit_and_resource_pages_queries_do_not_grow_with_data(client, org, page):
    from tests.budgets.factories import BudgetFactory

    url = f"/units/{org['eng'].pk}/" if page == "unit" else f"/resources/{org['vm'].pk}/"
    BudgetFactory(name="Web", organization_unit=org["web"], amount=Decimal("1000"))
    client.force_login(org["member"])
    _page_queries(client, url)  # the first request of a session warms caches
    small, before = _page_queries(client, url)

    categories = [CostCategoryFactory(slug=f"view-grow-{i}") for i in range(6)]
    for i in range(30):
        unit = OrganizationUnitFactory(parent=org["eng"] if i % 2 else org["web"])
        resource = ResourceFactory(organization_unit=unit)
        for month in range(4):
            CostFactory(
                organization_unit=unit,
                resource=resource,
                category=categories[(i + month) % 6],
                amount=Decimal(i + 1),
                incurred_on=_month(-month),
            )
            CostFactory(
                organization_unit=org["web"],
                resource=org["vm"],
                category=categories[i % 6],
                amount=Decimal("1.00"),
                currency=("USD", "EUR", "JPY")[i % 3],
                incurred_on=_month(-month),
            )
        BudgetFactory(name=f"View grow {i}", organization_unit=unit, amount=Decimal("100"))
        BudgetFactory(name=f"Web grow {i}", organization_unit=org["web"], amount=Decimal(i + 9))
    large, after = _page_queries(client, url)

    assert after != before  # the larger data really is on the page
    assert large == small <= (20 if page == "unit" else 16)
