"""The "Record a cost" page and editing a draft or pending cost, as a signed-in member."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from budgets.models import Budget
from costs.models import Cost, CostEvent
from tests.budgets.factories import BudgetFactory
from tests.costs.factories import category, make_cost

pytestmark = pytest.mark.django_db

NEW = "/costs/new/"


def _client(client, user):
    client.force_login(user)
    return client


def _form(target: str, **fields) -> dict:
    data = {
        "target": target,
        "amount": "120.50",
        "currency": "USD",
        "category": "",
        "incurred_on": timezone.localdate().isoformat(),
        "url": "",
        "description": "Load test database",
        "comment": "",
        "tag_key": ["team", "env", ""],
        "tag_value": ["data", "prod", ""],
        "meta_key": ["invoice", ""],
        "meta_value": ["INV-7", ""],
        "save": "submit",
    }
    data.update(fields)
    return data


def _resource(org) -> str:
    return f"db-1 · AWS resource in Platform [resource #{org.resource.pk}]"


def _unit(unit) -> str:
    return f"{unit.name} ({unit.code}) [unit #{unit.pk}]"


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_form_lists_only_what_the_member_may_book_to(
    client, org, django_assert_max_num_queries
):
    _client(client, org.member)
    with django_assert_max_num_queries(10):
        response = client.get(NEW)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"[resource #{org.resource.pk}]" in html
    assert f"[entity #{org.entity.pk}]" in html
    assert f"[unit #{org.platform.pk}]" in html
    assert f"[unit #{org.sales.pk}]" not in html  # another unit's
    assert 'name="csrfmiddlewaretoken"' in html
    assert "Save draft" in html and "Submit" in html
    assert 'name="override_reason"' not in html  # finance only
    assert 'id="nav-record"' in html and 'aria-current="page"' in html


def test_submitting_records_a_pending_cost_with_tags_and_metadata(client, org):
    response = _client(client, org.member).post(NEW, _form(_resource(org)))
    cost = Cost.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/costs/{cost.pk}/"
    assert cost.status == Cost.Status.PENDING
    assert cost.amount == Decimal("120.50") and cost.currency == "USD"
    assert cost.resource == org.resource and cost.organization_unit == org.platform
    assert cost.tags == {"team": "data", "env": "prod"}
    assert cost.metadata == {"invoice": "INV-7"}
    assert cost.source == Cost.Source.MANUAL
    assert cost.approver == org.res_owner
    assert cost.submitted_by == org.member
    assert set(cost.events.values_list("action", flat=True)) == {"create", "submit"}
    assert f"Cost #{cost.pk} submitted for approval." in _messages(response)


def test_save_draft_records_a_draft_and_opens_it_for_editing(client, org):
    response = _client(client, org.member).post(
        NEW, _form(_unit(org.platform), save="draft", category=str(category("software").pk))
    )
    cost = Cost.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/costs/{cost.pk}/edit/"
    assert cost.status == Cost.Status.DRAFT
    assert cost.organization_unit == org.platform and cost.resource is None
    assert cost.category.slug == "software"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"amount": "1e3"}, "amount", "plain decimals"),
        ({"amount": "12.345"}, "amount", ""),
        ({"currency": "XXQ"}, "currency", "Unknown currency"),
        ({"incurred_on": ""}, "incurred_on", "required"),
        ({"url": "javascript:alert(1)"}, "url", "http"),
        ({"target": "db-1"}, "target", "from the list"),
        ({"target": ""}, "target", "Choose a resource"),
        ({"tag_key": ["", "env"], "tag_value": ["orphan", "prod"]}, "tags", "has no key"),
        ({"tag_key": ["env", "env"], "tag_value": ["a", "b"]}, "tags", "given twice"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_nothing_is_written(
    client, org, fields, field, message
):
    fields = dict(fields)
    target = fields.pop("target", _resource(org))
    response = _client(client, org.member).post(NEW, _form(target, **fields))
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="{field}-errors"' in html
    assert message in html.split(f'id="{field}-errors"')[1].split("</div>")[0]
    assert not Cost.objects.exists() and not CostEvent.objects.exists()
    # what was typed comes back
    assert 'value="Load test database"' in html or "Load test database" in html


def test_another_units_ids_are_refused_like_unknown_ones(client, org):
    other_resource_unit = _unit(org.sales)
    for target in (other_resource_unit, "Nope [unit #999999]", f"x [entity #{org.entity.pk + 99}]"):
        response = _client(client, org.member).post(NEW, _form(target))
        assert response.status_code == 400
        html = response.content.decode()
        assert 'id="target-errors"' in html and "does not exist" in html
    assert not Cost.objects.exists()


def test_a_block_budget_refusal_is_shown_with_its_figures_and_nothing_is_written(client, org):
    BudgetFactory(
        name="Platform hard cap",
        organization_unit=org.platform,
        amount=Decimal("100.00"),
        action=Budget.Action.BLOCK,
        period=Budget.Period.MONTHLY,
    )
    response = _client(client, org.member).post(NEW, _form(_resource(org)))
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="budget-refusal"' in html
    row = html.split('id="refusal-budget-')[1].split("</tr>")[0]
    assert "Platform hard cap" in row
    assert "100.00 USD" in row  # limit
    assert "0.00 USD" in row  # spent
    assert "120.50 USD" in row  # this cost adds
    assert not Cost.objects.exists()
    # the typed values stay on the form
    assert "Load test database" in html


def test_a_warn_budget_lets_the_cost_through_and_shows_its_figures(client, org):
    BudgetFactory(
        name="Platform soft cap",
        organization_unit=org.platform,
        amount=Decimal("100.00"),
        action=Budget.Action.WARN,
    )
    response = _client(client, org.member).post(NEW, _form(_resource(org)), follow=True)
    assert response.status_code == 200
    assert Cost.objects.get().status == Cost.Status.PENDING
    warning = [m for m in _messages(response) if "Platform soft cap" in m]
    assert warning and "limit 100.00 USD" in warning[0] and "adds 120.50 USD" in warning[0]
    assert "Platform soft cap" in response.content.decode()


def test_finance_overrides_a_block_with_a_reason(client, org):
    BudgetFactory(
        name="Cap",
        organization_unit=org.platform,
        amount=Decimal("100.00"),
        action=Budget.Action.BLOCK,
    )
    page = _client(client, org.fin).get(NEW).content.decode()
    assert 'name="override_reason"' in page
    response = client.post(NEW, _form(_unit(org.platform), override_reason="Signed off by CFO"))
    cost = Cost.objects.get()
    assert response.status_code == 302
    assert cost.status == Cost.Status.PENDING
    override = cost.events.get(action=CostEvent.Action.OVERRIDE)
    assert override.comment == "Signed off by CFO"


def test_a_member_cannot_override(client, org):
    BudgetFactory(
        organization_unit=org.platform, amount=Decimal("100.00"), action=Budget.Action.BLOCK
    )
    response = _client(client, org.member).post(
        NEW, _form(_resource(org), override_reason="I insist")
    )
    assert response.status_code == 403  # the field is not offered; the block still refuses
    assert not Cost.objects.exists()


def test_csrf_is_enforced(org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org.member)
    response = client.post(NEW, _form(_resource(org)))
    assert response.status_code == 403
    assert not Cost.objects.exists()


def test_the_page_needs_a_login(client, org):
    response = client.get(NEW)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    response = client.post(NEW, _form(_resource(org)))
    assert response.status_code == 302 and not Cost.objects.exists()


def test_an_auditor_is_refused(client, org):
    response = _client(client, org.aud).post(NEW, _form(_unit(org.platform)))
    assert response.status_code == 403
    assert not Cost.objects.exists()


# --- edit and cancel -------------------------------------------------------------------


def test_editing_a_draft_shows_its_values_and_saves_the_change(
    client, org, django_assert_max_num_queries
):
    cost = make_cost(
        status=Cost.Status.DRAFT,
        submitted_by=org.member,
        resource=org.resource,
        amount="40.00",
        tags={"team": "data"},
        metadata={"po": "77"},
        incurred_on=date(2025, 3, 15),
    )
    url = f"/costs/{cost.pk}/edit/"
    _client(client, org.member)
    with django_assert_max_num_queries(12):
        response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'value="{_resource(org)}"' in html
    assert 'value="40.00"' in html and 'value="team"' in html and 'value="77"' in html
    response = client.post(
        url,
        _form(_unit(org.platform), amount="45.00", incurred_on="2025-03-15", save="draft"),
    )
    assert response.status_code == 302
    cost = Cost.objects.get(pk=cost.pk)
    assert cost.amount == Decimal("45.00") and cost.status == Cost.Status.DRAFT
    assert cost.resource is None and cost.organization_unit == org.platform
    assert cost.tags == {"team": "data", "env": "prod"}
    edit = cost.events.get(action=CostEvent.Action.EDIT)
    assert [Decimal(v) for v in edit.changes["amount"]] == [Decimal("40.00"), Decimal("45.00")]


def test_submitting_a_draft_from_the_edit_page(client, org):
    cost = make_cost(status=Cost.Status.DRAFT, submitted_by=org.member, resource=org.resource)
    response = _client(client, org.member).post(
        f"/costs/{cost.pk}/edit/", _form(_resource(org), save="submit")
    )
    assert response.status_code == 302 and response["Location"] == f"/costs/{cost.pk}/"
    cost = Cost.objects.get(pk=cost.pk)
    assert cost.status == Cost.Status.PENDING


def test_someone_else_cannot_edit_and_another_units_cost_is_404(client, org):
    cost = make_cost(status=Cost.Status.DRAFT, submitted_by=org.member, resource=org.resource)
    url = f"/costs/{cost.pk}/edit/"
    assert _client(client, org.sales_member).get(url).status_code == 404
    # the owner of the unit above sees the cost, but only its submitter or finance may edit it
    html = _client(client, org.eng_owner).get(url).content.decode()
    assert "Only the submitter or finance" in html and 'id="save-draft"' not in html
    response = client.post(url, _form(_resource(org), amount="1.00"))
    assert response.status_code == 403
    assert "Only the submitter or finance" in response.content.decode()
    cost = Cost.objects.get(pk=cost.pk)
    assert cost.amount == Decimal("100.00")


def test_an_approved_cost_cannot_be_edited(client, org):
    cost = make_cost(status=Cost.Status.APPROVED, submitted_by=org.member, resource=org.resource)
    url = f"/costs/{cost.pk}/edit/"
    response = _client(client, org.member).get(url)
    assert "cannot be edited" in response.content.decode()
    assert 'id="save-cost"' not in response.content.decode()
    response = client.post(url, _form(_resource(org), amount="1.00", save="save"))
    assert response.status_code == 409
    cost = Cost.objects.get(pk=cost.pk)
    assert cost.amount == Decimal("100.00")


def test_cancel_a_pending_cost_from_the_edit_page(client, org):
    cost = make_cost(submitted_by=org.member, resource=org.resource)
    html = _client(client, org.member).get(f"/costs/{cost.pk}/edit/").content.decode()
    assert 'id="cancel-form"' in html
    response = client.post(f"/costs/{cost.pk}/cancel/", {"next": "/costs/mine/"})
    assert response.status_code == 302 and response["Location"] == "/costs/mine/"
    cost = Cost.objects.get(pk=cost.pk)
    assert cost.status == Cost.Status.CANCELLED


def test_every_fields_problem_is_shown_at_once(client, org):
    response = _client(client, org.member).post(
        NEW, _form("nothing", amount="1e3", url="ftp://x", currency="XXQ")
    )
    assert response.status_code == 400
    html = response.content.decode()
    for field in ("target", "amount", "url", "currency"):
        assert f'id="{field}-errors"' in html, field
    assert html.count('id="target-errors"') == 1
    assert not Cost.objects.exists()


def test_the_detail_page_links_to_the_edit_page_for_its_submitter(client, org):
    cost = make_cost(submitted_by=org.member, resource=org.resource)
    html = _client(client, org.member).get(f"/costs/{cost.pk}/").content.decode()
    assert f'href="/costs/{cost.pk}/edit/"' in html
    html = _client(client, org.eng_owner).get(f"/costs/{cost.pk}/").content.decode()
    assert f'href="/costs/{cost.pk}/edit/"' not in html


def test_editing_a_pending_cost_past_a_block_budget_is_refused(client, org):
    cost = make_cost(
        submitted_by=org.member,
        resource=org.resource,
        amount="50.00",
        incurred_on=timezone.localdate(),
    )
    BudgetFactory(
        name="Cap",
        organization_unit=org.platform,
        amount=Decimal("100.00"),
        action=Budget.Action.BLOCK,
        include_pending=False,
    )
    response = _client(client, org.member).post(
        f"/costs/{cost.pk}/edit/", _form(_resource(org), amount="150.00", save="save")
    )
    assert response.status_code == 403
    assert 'id="budget-refusal"' in response.content.decode()
    cost = Cost.objects.get(pk=cost.pk)
    assert cost.amount == Decimal("50.00")
    assert not cost.events.filter(action=CostEvent.Action.EDIT).exists()
    response = client.post(
        f"/costs/{cost.pk}/edit/", _form(_resource(org), amount="60.00", save="save")
    )
    assert response.status_code == 302
    assert Cost.objects.get(pk=cost.pk).amount == Decimal("60.00")


def test_recording_runs_bounded_queries(client, org, django_assert_max_num_queries):
    """Whatever the number of units, entities and resources the member may book to."""
    _client(client, org.member)
    with django_assert_max_num_queries(25):
        response = client.post(NEW, _form(_resource(org)))
    assert response.status_code == 302
    with django_assert_max_num_queries(12):
        response = client.post(NEW, _form(_resource(org), amount="1e3"))
    assert response.status_code == 400
    assert Cost.objects.count() == 1
