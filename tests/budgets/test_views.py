"""The /budgets/ page (bars with accessible figures, amber/red classes, the forecast marker,
bounded queries) and enforcement as people meet it: the cost page and the admin."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.budgets.factories import BudgetFactory
from tests.costs.factories import make_cost

pytestmark = pytest.mark.django_db
MARCH = date(2025, 3, 15)


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


# --- enforcement through the cost page and the admin transitions ------------------------------

BLOCK_FIGURES = (
    "This cost would exceed the budget 'Eng hard' (2025-03-01 to 2025-03-31): limit 100.00 "
    "USD, spent 60.00 USD, remaining 40.00 USD, 60.00 % used; this cost adds 50.00 USD."
)


def _messages(response) -> list[str]:
    from django.contrib.messages import get_messages

    return [str(m) for m in get_messages(response.wsgi_request)]


def _draft(org, amount, user=None):
    from costs import services as cost_services

    return cost_services.cost_create(
        submitted_by=user or org.member,
        amount=Decimal(amount),
        currency="USD",
        incurred_on=MARCH,
        organization_unit=org.platform,
        draft=True,
    ).cost


def _status(cost):
    from costs.models import Cost

    return Cost.objects.get(pk=cost.pk).status


@pytest.fixture
def eng_hard(org):
    budget = BudgetFactory(
        name="Eng hard", organization_unit=org.eng, amount=Decimal("100.00"), action="block"
    )
    make_cost(submitted_by=org.member, organization_unit=org.platform, amount="60.00")
    return budget


def test_page_submit_against_a_block_budget_shows_its_figures(org, client, eng_hard):
    draft = _draft(org, "50.00")
    client.force_login(org.member)
    page = client.get(f"/costs/{draft.pk}/").content.decode()
    assert 'id="submit-form"' in page and "override_reason" not in page  # finance only
    resp = client.post(f"/costs/{draft.pk}/submit/", {"comment": ""}, follow=True)
    assert resp.status_code == 200
    assert _messages(resp) == [f"Cost #{draft.pk} was not submitted: {BLOCK_FIGURES}"]
    assert BLOCK_FIGURES.replace("'", "&#x27;") in resp.content.decode()
    assert _status(draft) == "draft"
    # Sending an override reason does not help anyone but finance.
    resp = client.post(f"/costs/{draft.pk}/submit/", {"override_reason": "I need it"}, follow=True)
    assert _messages(resp) == [
        f"Cost #{draft.pk} was not submitted: Only finance staff may override a budget block."
    ]
    assert _status(draft) == "draft"


def test_page_submit_against_a_warn_budget_shows_the_warning(org, client):
    BudgetFactory(name="Eng soft", organization_unit=org.eng, amount=Decimal("40.00"))
    draft = _draft(org, "50.00")
    client.force_login(org.member)
    resp = client.post(f"/costs/{draft.pk}/submit/", {"comment": ""}, follow=True)
    assert _messages(resp) == [
        f"Cost #{draft.pk} submitted.",
        f"Cost #{draft.pk}: Budget 'Eng soft' (2025-03-01 to 2025-03-31): limit 40.00 USD, "
        "spent 0.00 USD, remaining 40.00 USD, 0.00 % used; this cost adds 50.00 USD.",
    ]
    assert _status(draft) == "pending"


def test_finance_overrides_a_block_on_the_page_with_a_reason(org, client, eng_hard):
    from costs.models import CostEvent

    draft = _draft(org, "50.00")
    client.force_login(org.fin)
    page = client.get(f"/costs/{draft.pk}/").content.decode()
    assert 'name="override_reason" id="submit-override"' in page
    resp = client.post(
        f"/costs/{draft.pk}/submit/", {"override_reason": "Launch week"}, follow=True
    )
    assert _messages(resp) == [
        f"Cost #{draft.pk} submitted.",
        f"Cost #{draft.pk}: Overridden (Launch week): Budget 'Eng hard' (2025-03-01 to "
        "2025-03-31): limit 100.00 USD, spent 60.00 USD, remaining 40.00 USD, 60.00 % used; "
        "this cost adds 50.00 USD.",
    ]
    assert _status(draft) == "pending"
    event = CostEvent.objects.get(cost=draft, action="override")
    assert (event.comment, event.actor) == ("Launch week", org.fin)


def test_page_approval_against_an_approved_only_block_budget(org, client):
    from costs.models import CostEvent

    BudgetFactory(
        name="Eng approved",
        organization_unit=org.eng,
        amount=Decimal("100.00"),
        action="block",
        include_pending=False,
    )
    first = make_cost(submitted_by=org.member, organization_unit=org.platform, amount="70.00")
    second = make_cost(submitted_by=org.member, organization_unit=org.platform, amount="70.00")
    client.force_login(org.eng_owner)
    resp = client.post(f"/costs/{first.pk}/approve/", {"comment": "ok"}, follow=True)
    assert _messages(resp) == [f"Cost #{first.pk} approved."]
    resp = client.post(f"/costs/{second.pk}/approve/", {"comment": "ok"}, follow=True)
    assert _messages(resp) == [
        f"Cost #{second.pk} was not approved: This cost would exceed the budget 'Eng approved' "
        "(2025-03-01 to 2025-03-31): limit 100.00 USD, spent 70.00 USD, remaining 30.00 USD, "
        "70.00 % used; this cost adds 70.00 USD."
    ]
    assert _status(second) == "pending"
    client.force_login(org.fin)
    assert 'id="approve-override"' in client.get(f"/costs/{second.pk}/").content.decode()
    client.post(f"/costs/{second.pk}/approve/", {"override_reason": "Year-end catch-up"})
    assert _status(second) == "approved"
    assert CostEvent.objects.get(cost=second, action="override").comment == "Year-end catch-up"


def test_admin_transitions_block_warn_and_override(org, client, eng_hard):
    from costs.models import CostEvent

    BudgetFactory(name="Eng soft", organization_unit=org.eng, amount=Decimal("10.00"))
    org.fin.is_staff = org.fin.is_superuser = True
    org.fin.save()
    client.force_login(org.fin)
    draft = _draft(org, "50.00", user=org.fin)
    change = f"/admin/costs/cost/{draft.pk}/change/"
    assert 'id="submit-override"' in client.get(change).content.decode()
    url = f"/admin/costs/cost/{draft.pk}/transition/submit/"
    resp = client.post(url, {"comment": ""}, follow=True)
    assert _messages(resp) == [f"Cost #{draft.pk} was not submitted: {BLOCK_FIGURES}"]
    assert _status(draft) == "draft"
    resp = client.post(url, {"override_reason": "Board approved"}, follow=True)
    msgs = _messages(resp)
    assert msgs[0] == f"Cost #{draft.pk} submitted."
    assert msgs[1].startswith(f"Cost #{draft.pk}: Overridden (Board approved): Budget 'Eng hard'")
    assert msgs[2] == (
        f"Cost #{draft.pk}: Budget 'Eng soft' (2025-03-01 to 2025-03-31): limit 10.00 USD, "
        "spent 60.00 USD, remaining -50.00 USD, 600.00 % used; this cost adds 50.00 USD."
    )
    assert _status(draft) == "pending"
    assert CostEvent.objects.get(cost=draft, action="override").comment == "Board approved"


# --- colours and the forecast marker ---------------------------------------------------------


def _bar(html, budget):
    start = html.index(f'id="budget-{budget.pk}"')
    return html[start : html.index("</li>", start)]


@pytest.mark.parametrize(
    ("spent", "pct", "css", "words"),
    [
        ("8000.00", "80.00", 'class="bar"', ""),
        ("8001.00", "80.01", 'class="bar amber"', ", above 80 %"),
        ("10000.00", "100.00", 'class="bar amber"', ", above 80 %"),
        ("10001.00", "100.01", 'class="bar red"', ", over budget"),
    ],
)
def test_amber_above_80_and_red_above_100_percent(org, client, spent, pct, css, words):
    budget = BudgetFactory(name="Edge", organization_unit=org.eng, amount=Decimal("10000.00"))
    make_cost(submitted_by=org.member, organization_unit=org.platform, amount=spent)
    client.force_login(org.member)
    bar = _bar(client.get("/budgets/", {"on": "2025-03-15"}).content.decode(), budget)
    assert css in bar
    assert f'<span class="pct">{pct} %</span>{words})' in bar


def test_forecast_marker_sits_at_the_run_rate_forecast(org, client):
    from datetime import datetime
    from unittest import mock
    from zoneinfo import ZoneInfo

    roomy = BudgetFactory(name="Roomy", organization_unit=org.eng, amount=Decimal("1000.00"))
    tight = BudgetFactory(name="Tight", organization_unit=org.eng, amount=Decimal("150.00"))
    make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        amount="100.00",
        incurred_on=date(2025, 3, 2),
    )
    client.force_login(org.member)
    # On 10 March, 100.00 in 10 of 31 days runs at 310.00 by the end of the month.
    with mock.patch(
        "django.utils.timezone.now", return_value=datetime(2025, 3, 10, 12, tzinfo=ZoneInfo("UTC"))
    ):
        html = client.get("/budgets/").content.decode()
    roomy_bar, tight_bar = _bar(html, roomy), _bar(html, tight)
    assert 'title="Forecast to period end: 31.00 %"' in roomy_bar
    assert "left:calc(31.0% - 2px)" in roomy_bar
    assert "forecast 310.00 (31.00 %)" in roomy_bar
    # Beyond the limit the marker stops at the bar's end; the title keeps the real figure.
    assert 'title="Forecast to period end: 206.67 %"' in tight_bar
    assert "left:calc(100.0% - 2px)" in tight_bar
    assert 'style="width:66.7%"' in tight_bar and 'class="bar"' in tight_bar


def test_no_forecast_before_a_tenth_of_the_period(org, client):
    """On 2 March a monthly budget shows "too early to forecast", not a run-rate of two days;
    from the fourth day (a tenth of 31) the forecast and its marker appear."""
    from datetime import datetime
    from unittest import mock
    from zoneinfo import ZoneInfo

    budget = BudgetFactory(name="Early", organization_unit=org.eng, amount=Decimal("1000.00"))
    make_cost(
        submitted_by=org.member,
        organization_unit=org.platform,
        amount="300.00",
        incurred_on=date(2025, 3, 1),
    )
    client.force_login(org.member)
    with mock.patch(
        "django.utils.timezone.now", return_value=datetime(2025, 3, 2, 12, tzinfo=ZoneInfo("UTC"))
    ):
        bar = _bar(client.get("/budgets/").content.decode(), budget)
        api = client.get(f"/api/v1/budgets/{budget.pk}/utilization/").json()
    assert "too early to forecast" in bar
    assert 'class="forecast-marker"' not in bar
    assert (api["spent"], api["forecast"], api["forecast_pct"]) == ("300.00", None, None)
    with mock.patch(
        "django.utils.timezone.now", return_value=datetime(2025, 3, 4, 12, tzinfo=ZoneInfo("UTC"))
    ):
        bar = _bar(client.get("/budgets/").content.decode(), budget)
    # the day in progress counts: 4 of 31 days, 300.00 * 31 / 4 = 2325.00
    assert "forecast 2,325.00 (232.50 %)" in bar
    assert 'class="forecast-marker"' in bar
