"""The /budgets/ page: bars with accessible figures, amber/red classes, bounded queries."""

from decimal import Decimal

import pytest
from django.utils import timezone

from tests.budgets.factories import BudgetFactory
from tests.costs.factories import make_cost

pytestmark = pytest.mark.django_db


def test_login_required(client):
    resp = client.get("/budgets/")
    assert resp.status_code == 302 and "/login/" in resp["Location"]


def test_bars_show_figures_and_colours(org, client):
    today = timezone.localdate()
    green = BudgetFactory(name="Green", organization_unit=org.eng, amount=Decimal("1000.00"))
    amber = BudgetFactory(name="Amber", organization_unit=org.eng, amount=Decimal("110.00"))
    red = BudgetFactory(name="Red", organization_unit=org.platform, amount=Decimal("90.00"))
    BudgetFactory(name="Sales only", organization_unit=org.sales)
    make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        amount="100.00",
        incurred_on=today,
        status="approved",
    )
    client.force_login(org.member)
    resp = client.get("/budgets/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "Sales only" not in html
    for budget, css in ((green, 'class="bar"'), (amber, 'class="bar amber"'), (red, "bar red")):
        start = html.index(f'id="budget-{budget.pk}"')
        block = html[start : html.index("</li>", start)]
        assert css in block
        assert "100.00</span> of" in block
    red_block = html[html.index(f'id="budget-{red.pk}"') :]
    assert "111.11 %" in red_block and "over budget" in red_block
    assert 'style="width:100.0%"' in red_block
    assert 'class="forecast-marker"' in html
    assert 'aria-current="page"' in html and 'id="nav-budgets"' in html


def test_page_runs_a_bounded_number_of_queries(org, client, django_assert_max_num_queries):
    client.force_login(org.fin)
    for _ in range(3):
        BudgetFactory(organization_unit=org.eng)
    with django_assert_max_num_queries(12):
        small = client.get("/budgets/")
    for _ in range(20):
        BudgetFactory(organization_unit=org.platform)
    with django_assert_max_num_queries(12):
        big = client.get("/budgets/")
    assert (
        big.content.count(b'class="budget-bar"') == small.content.count(b'class="budget-bar"') + 20
    )


def test_admin_changelist_has_utilisation_column(org, client, django_assert_max_num_queries):
    org.fin.is_staff = True
    org.fin.is_superuser = True
    org.fin.save()
    for _ in range(5):
        BudgetFactory(organization_unit=org.eng, amount=Decimal("50.00"))
    client.force_login(org.fin)
    with django_assert_max_num_queries(15):
        resp = client.get("/admin/budgets/budget/")
    assert resp.status_code == 200
    assert resp.content.decode().count("0.00 % (0.00 of 50.00)") == 5


def test_admin_amount_change_needs_reason_and_writes_revision(org, client):
    from budgets.models import Budget, BudgetRevision

    # Finance staff manage budgets by their role, without Django model permissions.
    org.fin.is_staff = True
    org.fin.save()
    budget = BudgetFactory(name="Ops", organization_unit=org.eng, amount=Decimal("50.00"))
    client.force_login(org.fin)
    form = {
        "name": "Ops",
        "amount": "75.00",
        "currency": "USD",
        "action": "warn",
        "active": "on",
        "period": "monthly",
        "organization_unit": org.eng.pk,
        "tags_filter": "{}",
        "alert_thresholds": '["0.5", "1"]',
        "include_pending": "on",
        "revisions-TOTAL_FORMS": "0",
        "revisions-INITIAL_FORMS": "0",
        "revisions-MIN_NUM_FORMS": "0",
        "revisions-MAX_NUM_FORMS": "1000",
    }
    url = f"/admin/budgets/budget/{budget.pk}/change/"
    resp = client.post(url, form)
    assert resp.status_code == 200  # the form again, with the error
    assert "Say why the amount changes." in resp.content.decode()
    assert not BudgetRevision.objects.exists()
    resp = client.post(url, {**form, "reason": "More on-call"})
    assert resp.status_code == 302, resp.content.decode()[:2000]
    rev = BudgetRevision.objects.get()
    assert (rev.old_amount, rev.new_amount, rev.reason, rev.changed_by) == (
        Decimal("50.00"),
        Decimal("75.00"),
        "More on-call",
        org.fin,
    )
    assert Budget.objects.get().alert_thresholds == ["0.5", "1"]
    bad = client.post(url, {**form, "alert_thresholds": '["3"]', "reason": "x"})
    assert bad.status_code == 200 and "outside (0, 2]" in bad.content.decode()
    page = client.get(url).content.decode()
    assert "More on-call" in page  # the read-only revision history
    # Auditors read budgets in the admin but change nothing.
    org.aud.is_staff = True
    org.aud.save()
    client.force_login(org.aud)
    assert client.get(url).status_code == 200
    assert client.post(url, {**form, "amount": "99.00", "reason": "x"}).status_code == 403
    assert Budget.objects.get().amount == Decimal("75.00")
