"""The budgets admin: access follows the roles (finance manages, auditors read, other staff
see nothing whatever model permissions they hold) and a service's refusal is a form error or
a message, never a server error."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from budgets import services
from budgets.models import Budget
from costtrack.core.exceptions import Conflict
from tests.budgets.factories import BudgetFactory
from tests.orgunits.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/budgets/budget/"
ADD = "/admin/budgets/budget/add/"


def change_url(budget):
    return f"/admin/budgets/budget/{budget.pk}/change/"


def delete_url(budget):
    return f"/admin/budgets/budget/{budget.pk}/delete/"


def form_data(org, **over):
    data = {
        "name": "Ops",
        "amount": "50.00",
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
    data.update(over)
    return data


def staff(user):
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def budget(org):
    return BudgetFactory(name="Ops", organization_unit=org.eng, amount=Decimal("50.00"))


def test_staff_with_model_permissions_but_no_role_has_no_access(org, client, budget):
    clerk = staff(UserFactory(username="clerk"))
    clerk.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="budgets"),
    )
    client.force_login(clerk)
    assert "/admin/budgets/" not in client.get("/admin/").content.decode()
    assert client.get(LIST).status_code == 403
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, form_data(org, name="Sneaky")).status_code == 403
    assert client.get(change_url(budget)).status_code == 403
    assert client.post(change_url(budget), form_data(org, name="Renamed")).status_code == 403
    assert client.post(delete_url(budget), {"post": "yes"}).status_code == 403
    assert client.get("/admin/budgets/budgetalert/").status_code == 403
    assert list(Budget.objects.values_list("name", flat=True)) == ["Ops"]


def test_auditor_reads_but_changes_nothing(org, client, budget):
    client.force_login(staff(org.aud))
    assert "/admin/budgets/" in client.get("/admin/").content.decode()
    assert client.get(LIST).status_code == 200
    page = client.get(change_url(budget))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.get(ADD).status_code == 403
    assert client.post(change_url(budget), form_data(org, name="Renamed")).status_code == 403
    assert client.post(delete_url(budget), {"post": "yes"}).status_code == 403
    assert Budget.objects.get().name == "Ops"


def test_finance_adds_and_deletes_without_model_permissions(org, client):
    client.force_login(staff(org.fin))
    resp = client.post(ADD, form_data(org, name="Cloud", amount="120.00"))
    assert resp.status_code == 302, resp.content.decode()[:2000]
    created = Budget.objects.get()
    assert (created.name, created.slug, created.amount, created.created_by) == (
        "Cloud",
        "cloud",
        Decimal("120.00"),
        org.fin,
    )
    resp = client.post(delete_url(created), {"post": "yes"})
    assert resp.status_code == 302
    assert not Budget.objects.exists()


def test_service_refusal_on_save_is_a_form_error(org, client, budget, monkeypatch):
    def refuse(**kwargs):
        raise Conflict("The budget was changed meanwhile; reload it.")

    monkeypatch.setattr(services, "budget_update", refuse)
    client.force_login(staff(org.fin))
    resp = client.post(change_url(budget), form_data(org, name="Renamed"))
    assert resp.status_code == 200
    assert "The budget was changed meanwhile; reload it." in resp.content.decode()
    assert Budget.objects.get().name == "Ops"


def test_service_validation_error_names_the_field(org, client, budget):
    client.force_login(staff(org.fin))
    resp = client.post(change_url(budget), form_data(org, currency="XXY"))
    assert resp.status_code == 200
    assert "Unknown currency" in resp.content.decode()
    assert Budget.objects.get().currency == "USD"


def test_service_refusal_on_delete_is_a_message(org, client, budget, monkeypatch):
    other = BudgetFactory(name="Other", organization_unit=org.eng)

    def refuse(**kwargs):
        raise Conflict("Budgets under review cannot be deleted.")

    monkeypatch.setattr(services, "budget_delete", refuse)
    client.force_login(staff(org.fin))
    resp = client.post(delete_url(budget), {"post": "yes"}, follow=True)
    assert resp.status_code == 200
    assert "The budget was not deleted: Budgets under review cannot be deleted." in (
        resp.content.decode()
    )
    resp = client.post(
        LIST,
        {"action": "delete_selected", "_selected_action": [budget.pk, other.pk], "post": "yes"},
        follow=True,
    )
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "No budget was deleted: Budgets under review cannot be deleted." in html
    assert "Successfully deleted" not in html
    assert Budget.objects.count() == 2
