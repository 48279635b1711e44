from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from costs import extensions, services
from costs.models import Cost, CostEvent
from costtrack.core.exceptions import Conflict, PermissionDenied, ValidationError
from notifications.models import Notification
from tests.costs.factories import category, make_cost
from tests.orgunits.factories import finance_user

pytestmark = pytest.mark.django_db


def create(org, **kw):
    params = {
        "submitted_by": org.member,
        "amount": Decimal("120.50"),
        "currency": "USD",
        "incurred_on": date(2025, 3, 10),
        "organization_unit": org.platform,
    }
    params.update(kw)
    return services.cost_create(**params)


def events(cost):
    return list(CostEvent.objects.filter(cost=cost).order_by("at", "id"))


def actions(cost):
    return [e.action for e in events(cost)]


@pytest.fixture
def checks():
    """Register submission checks / decision hooks for one test, then remove them."""
    saved = (list(extensions._submission_checks), list(extensions._decision_hooks))
    yield extensions
    extensions._submission_checks[:] = saved[0]
    extensions._decision_hooks[:] = saved[1]


# --- create ----------------------------------------------------------------------------


def test_create_pending_routes_to_unit_owner_and_writes_events(org):
    result = create(org)
    cost = result.cost
    assert cost.status == Cost.Status.PENDING
    assert cost.submitted_at is not None
    assert cost.approver == org.eng_owner
    assert cost.amount_reporting == Decimal("120.50")
    assert cost.exchange_rate == 1
    assert cost.category.slug == "other"
    assert cost.kind == Cost.Kind.CHARGE
    assert result.warnings == [] and result.created
    create_event, submit_event = events(cost)
    assert (create_event.action, create_event.to_status) == ("create", "draft")
    assert (submit_event.action, submit_event.from_status, submit_event.to_status) == (
        "submit",
        "draft",
        "pending",
    )
    assert submit_event.actor == org.member


def test_create_draft_writes_one_event_and_no_notification(org):
    cost = create(org, draft=True).cost
    assert cost.status == Cost.Status.DRAFT
    assert actions(cost) == ["create"]
    assert not Notification.objects.filter(kind="approval_requested").exists()


def test_unit_defaults_from_resource_then_entity(org):
    by_resource = create(org, organization_unit=None, resource=org.resource).cost
    by_entity = create(org, organization_unit=None, entity=org.entity).cost
    assert by_resource.organization_unit == org.platform
    assert by_entity.organization_unit == org.platform


def test_negative_amount_is_a_credit_and_negative_charge_refused(org):
    credit = create(org, amount=Decimal("-20.00")).cost
    assert credit.kind == Cost.Kind.CREDIT
    assert credit.amount_reporting == Decimal("-20.00")
    with pytest.raises(ValidationError) as exc:
        create(org, amount=Decimal("-5"), kind="charge")
    assert exc.value.field == "amount"
    assert Cost.objects.count() == 1


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"currency": "XXQ"}, "currency"),
        ({"amount": Decimal("1.005")}, "amount"),
        ({"amount": Decimal("NaN")}, "amount"),
        ({"amount": Decimal("Infinity")}, "amount"),
        ({"amount": Decimal(10) ** 12}, "amount"),
        ({"incurred_on": date(1969, 12, 31)}, "incurred_on"),
        ({"incurred_on": date(2999, 1, 1)}, "incurred_on"),
        ({"organization_unit": None}, "organization_unit"),
        ({"currency": "EUR"}, "currency"),  # no EUR rate loaded
        ({"url": "javascript:alert(1)"}, "url"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
    ],
)
def test_create_bad_input_names_the_field_and_writes_nothing(org, kw, field):
    from django.core.exceptions import ValidationError as DjangoValidationError

    with pytest.raises((ValidationError, DjangoValidationError)) as exc:
        create(org, **kw)
    if isinstance(exc.value, ValidationError):
        assert exc.value.field == field
    else:
        assert field in exc.value.message_dict
    assert Cost.objects.count() == 0
    assert CostEvent.objects.count() == 0


def test_missing_rate_message_names_currency_and_day(org):
    with pytest.raises(ValidationError) as exc:
        create(org, currency="EUR")
    assert "EUR" in exc.value.message and "2025-03-10" in exc.value.message


def test_submitter_may_not_book_on_another_units_objects(org):
    with pytest.raises(ValidationError) as exc:
        create(org, organization_unit=org.sales)
    assert exc.value.field == "organization_unit"
    assert "does not exist" in exc.value.message
    assert Cost.objects.count() == 0


def test_idempotency_key_returns_first_cost_without_writing(org):
    first = create(org, idempotency_key="k-1")
    again = create(org, idempotency_key="k-1", amount=Decimal("999"))
    assert again.cost.pk == first.cost.pk and not again.created
    assert Cost.objects.count() == 1 and CostEvent.objects.count() == 2
    other_user = create(org, submitted_by=org.eng_owner, idempotency_key="k-1")
    assert other_user.cost.pk != first.cost.pk


# --- transitions -----------------------------------------------------------------------


def test_submit_draft(org):
    cost = create(org, draft=True).cost
    result = services.cost_submit(cost=cost, acting_user=org.member, comment="please")
    assert result.cost.status == Cost.Status.PENDING and result.warnings == []
    assert actions(cost) == ["create", "submit"]
    assert events(cost)[-1].comment == "please"


def test_only_submitter_or_finance_submits(org):
    cost = create(org, draft=True).cost
    with pytest.raises(PermissionDenied):
        services.cost_submit(cost=cost, acting_user=org.eng_owner)
    assert services.cost_submit(cost=cost, acting_user=org.fin).cost.status == "pending"


def test_approve_records_decision_and_notifies_submitter(org):
    cost = create(org).cost
    cost = services.cost_approve(cost=cost, acting_user=org.eng_owner, comment="fine")
    assert cost.status == Cost.Status.APPROVED
    assert (cost.decided_by, cost.decision_comment) == (org.eng_owner, "fine")
    assert cost.decided_at is not None
    last = events(cost)[-1]
    assert (last.action, last.actor, last.comment) == ("approve", org.eng_owner, "fine")
    assert (last.from_status, last.to_status) == ("pending", "approved")
    assert Notification.objects.filter(recipient=org.member, kind="cost_approved").count() == 1


def test_reject_then_revise_then_resubmit(org):
    cost = create(org).cost
    cost = services.cost_reject(cost=cost, acting_user=org.eng_owner, comment="wrong unit")
    assert cost.status == Cost.Status.REJECTED
    assert Notification.objects.filter(recipient=org.member, kind="cost_rejected").count() == 1
    cost = services.cost_revise(cost=cost, acting_user=org.member)
    assert cost.status == Cost.Status.DRAFT
    cost = services.cost_submit(cost=cost, acting_user=org.member).cost
    assert cost.status == Cost.Status.PENDING
    assert actions(cost) == ["create", "submit", "reject", "revise", "submit"]


@pytest.mark.parametrize("status", ["draft", "pending", "rejected"])
def test_cancel_from_draft_pending_rejected(org, status):
    cost = make_cost(status=status, submitted_by=org.member, organization_unit=org.platform)
    cost = services.cost_cancel(cost=cost, acting_user=org.member, comment="not needed")
    assert cost.status == Cost.Status.CANCELLED
    assert events(cost)[-1].action == "cancel"


def test_void_needs_finance_and_reason(org):
    cost = make_cost(status="approved", submitted_by=org.member, organization_unit=org.platform)
    with pytest.raises(PermissionDenied):
        services.cost_void(cost=cost, acting_user=org.eng_owner, reason="dup")
    with pytest.raises(ValidationError) as exc:
        services.cost_void(cost=cost, acting_user=org.fin, reason="  ")
    assert exc.value.field == "reason"
    cost = services.cost_void(cost=cost, acting_user=org.fin, reason="duplicate invoice")
    assert cost.status == Cost.Status.VOIDED
    assert events(cost)[-1].comment == "duplicate invoice"


@pytest.mark.parametrize(
    ("status", "service", "kwargs"),
    [
        ("draft", "cost_approve", {}),
        ("draft", "cost_reject", {}),
        ("approved", "cost_approve", {}),
        ("approved", "cost_reject", {}),
        ("rejected", "cost_approve", {}),
        ("pending", "cost_revise", {}),
        ("approved", "cost_revise", {}),
        ("approved", "cost_cancel", {}),
        ("voided", "cost_cancel", {}),
        ("cancelled", "cost_cancel", {}),
        ("pending", "cost_void", {"reason": "x"}),
        ("rejected", "cost_void", {"reason": "x"}),
        ("voided", "cost_void", {"reason": "x"}),
        ("pending", "cost_submit", {}),
        ("approved", "cost_submit", {}),
    ],
)
def test_invalid_transitions_conflict_and_write_nothing(org, status, service, kwargs):
    cost = make_cost(status=status, submitted_by=org.member, organization_unit=org.platform)
    before = CostEvent.objects.count()
    with pytest.raises(Conflict):
        getattr(services, service)(cost=cost, acting_user=org.fin, **kwargs)
    assert Cost.objects.get(pk=cost.pk).status == status
    assert CostEvent.objects.count() == before


def test_status_cannot_be_assigned_directly(org):
    cost = create(org).cost
    with pytest.raises(AttributeError):
        cost.status = Cost.Status.APPROVED


# --- edit ------------------------------------------------------------------------------


def test_edit_pending_writes_one_event_with_changes(org, eur_rates):
    cost = create(org).cost
    result = services.cost_update(
        cost=cost,
        acting_user=org.member,
        amount=Decimal("100.00"),
        currency="EUR",
        resource=org.resource,
        description="db",
    )
    cost = result.cost
    assert cost.amount_reporting == Decimal("120.00")  # 100 EUR at 1.20 from 2025-03-01
    assert cost.exchange_rate == Decimal("1.2")
    assert cost.approver == org.res_owner
    edit = events(cost)[-1]
    assert edit.action == "edit" and edit.actor == org.member
    assert edit.changes["amount"] == ["120.50000000", "100.00"]
    assert edit.changes["currency"] == ["USD", "EUR"]
    assert edit.changes["resource"] == [None, org.resource.pk]
    assert edit.changes["approver"] == [org.eng_owner.pk, org.res_owner.pk]
    assert actions(cost) == ["create", "submit", "edit"]


def test_edit_draft_writes_one_event_with_changes_and_runs_no_checks(org, eur_rates, checks):
    seen = []
    checks.register_submission_check(lambda **kw: seen.append(kw["cost"].pk) or [])
    cost = create(org, draft=True, description="first words", tags={"env": "dev"}).cost
    result = services.cost_update(
        cost=cost,
        acting_user=org.member,
        amount=Decimal("80.00"),
        currency="EUR",
        description="second words",
        tags={"env": "prod"},
        comment="fixed the invoice",
    )
    cost = Cost.objects.get(pk=cost.pk)
    assert cost.status == Cost.Status.DRAFT
    assert (cost.amount, cost.currency, cost.description) == (
        Decimal("80.00"),
        "EUR",
        "second words",
    )
    assert cost.amount_reporting == Decimal("96.00")  # 80 EUR at 1.20 from 2025-03-01
    assert actions(cost) == ["create", "edit"]
    edit = events(cost)[-1]
    assert (edit.actor, edit.from_status, edit.to_status) == (org.member, "draft", "draft")
    assert edit.comment == "fixed the invoice"
    assert edit.changes == {
        "amount": ["120.50000000", "80.00"],
        "currency": ["USD", "EUR"],
        "description": ["first words", "second words"],
        "tags": [{"env": "dev"}, {"env": "prod"}],
        "amount_reporting": ["120.50000000", "96.00"],
        "exchange_rate": ["1.000000000000", "1.200000000000"],
    }
    assert result.warnings == [] and seen == []  # drafts are checked when submitted


def test_edit_without_change_writes_nothing(org):
    cost = create(org).cost
    services.cost_update(cost=cost, acting_user=org.member, description="")
    assert actions(cost) == ["create", "submit"]


def test_edit_approved_conflicts_and_stranger_forbidden(org):
    cost = create(org).cost
    with pytest.raises(PermissionDenied):
        services.cost_update(cost=cost, acting_user=org.sales_member, description="x")
    cost = services.cost_approve(cost=cost, acting_user=org.eng_owner)
    with pytest.raises(Conflict):
        services.cost_update(cost=cost, acting_user=org.member, description="x")


# --- extension points ------------------------------------------------------------------


def test_submission_check_warnings_come_back(org, checks):
    seen = []

    def warn(*, cost, acting_user, override_reason):
        seen.append((cost.status, acting_user, override_reason))
        return [{"budget_id": 7, "name": "Cloud"}]

    checks.register_submission_check(warn)
    result = create(org)
    assert result.warnings == [{"budget_id": 7, "name": "Cloud"}]
    assert seen == [("draft", org.member, None)]


def test_refusing_check_writes_nothing(org, checks):
    def block(*, cost, acting_user, override_reason):
        if not override_reason:
            raise PermissionDenied("Budget exceeded", code="budget_exceeded")
        return [{"overridden": True}]

    checks.register_submission_check(block)
    with pytest.raises(PermissionDenied):
        create(org)
    assert Cost.objects.count() == 0 and CostEvent.objects.count() == 0
    with pytest.raises(PermissionDenied):
        create(org, override_reason="I am not finance")
    assert Cost.objects.count() == 0
    fin_cost = create(org, submitted_by=org.fin, override_reason="board approved").cost
    assert actions(fin_cost) == ["create", "submit", "override"]
    override = events(fin_cost)[-1]
    assert override.comment == "board approved"
    assert override.changes == {"warnings": [{"overridden": True}]}


def test_decision_hooks_run_after_approve_reject_void(org, checks):
    calls = []
    checks.register_decision_hook(lambda *, cost, acting_user: calls.append(cost.status))
    a = create(org).cost
    b = create(org).cost
    a = services.cost_approve(cost=a, acting_user=org.eng_owner)
    services.cost_reject(cost=b, acting_user=org.eng_owner)
    services.cost_void(cost=a, acting_user=org.fin, reason="dup")
    assert calls == ["approved", "rejected", "voided"]


# --- notifications ---------------------------------------------------------------------


def test_approval_requested_goes_to_approvers_not_submitter(org):
    from orgunits import services as org_services

    org_services.delegation_create(
        delegator=org.eng_owner,
        delegate=org.delegate,
        start_date=date(2000, 1, 1),
        end_date=date(2999, 1, 1),
    )
    create(org)
    recipients = set(
        Notification.objects.filter(kind="approval_requested").values_list(
            "recipient__username", flat=True
        )
    )
    assert recipients == {"eng_owner", "delegate", "eng_approver"}


def test_cost_routed_to_finance_notifies_finance(org):
    from tests.orgunits.factories import OrganizationUnitFactory

    lonely = OrganizationUnitFactory(name="Lonely", code="lonely")
    create(org, submitted_by=org.fin, organization_unit=lonely)
    other_fin = finance_user()
    cost = create(org, submitted_by=org.ceo, organization_unit=org.root).cost
    assert cost.approver is None
    recipients = set(
        Notification.objects.filter(
            kind="approval_requested", payload__cost_id=cost.pk
        ).values_list("recipient__username", flat=True)
    )
    assert recipients == {"fin", other_fin.username}


# --- audit trail is append-only ---------------------------------------------------------


def test_cost_events_cannot_be_updated_or_deleted_in_the_database(org):
    cost = create(org).cost
    event = events(cost)[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        CostEvent.objects.filter(pk=event.pk).update(comment="rewritten")
    with pytest.raises(IntegrityError), transaction.atomic():
        CostEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE costs_costevent SET actor_id = NULL")
    assert CostEvent.objects.get(pk=event.pk).comment == event.comment
    assert CostEvent.objects.filter(cost=cost).count() == 2


def test_category_defaults_and_subcategory(org):
    compute = category("compute")
    cost = create(org, category=compute).cost
    assert cost.category == compute


def test_override_reason_without_a_block_records_no_override(org, checks):
    cost = create(org, submitted_by=org.fin, override_reason="just in case").cost
    assert actions(cost) == ["create", "submit"]


def test_editing_a_pending_cost_runs_the_checks_again(org, checks):
    limit = Decimal("500")

    def block_above_limit(*, cost, acting_user, override_reason):
        if cost.amount > limit:
            if override_reason:
                return [{"budget_id": 1, "overridden": True}]
            raise PermissionDenied("Budget exceeded", code="budget_exceeded")
        return []

    checks.register_submission_check(block_above_limit)
    cost = create(org, amount=Decimal("100")).cost
    with pytest.raises(PermissionDenied):
        services.cost_update(cost=cost, acting_user=org.member, amount=Decimal("900"))
    assert Cost.objects.get(pk=cost.pk).amount == Decimal("100")
    assert actions(cost) == ["create", "submit"]
    # a description change is not re-checked
    assert services.cost_update(cost=cost, acting_user=org.member, description="x").warnings == []
    result = services.cost_update(
        cost=cost, acting_user=org.fin, amount=Decimal("900"), override_reason="approved by CFO"
    )
    assert result.warnings == [{"budget_id": 1, "overridden": True}]
    assert actions(cost) == ["create", "submit", "edit", "edit", "override"]
    # drafts are checked when submitted, not when edited
    draft = create(org, draft=True).cost
    services.cost_update(cost=draft, acting_user=org.member, amount=Decimal("900"))
    with pytest.raises(PermissionDenied):
        services.cost_submit(cost=draft, acting_user=org.member)


def test_decide_many_reports_each_cost(org):
    a = create(org).cost
    b = create(org).cost
    approved = services.cost_approve(cost=create(org).cost, acting_user=org.eng_owner)
    sales = create(org, submitted_by=org.sales_member, organization_unit=org.sales).cost
    outcome = services.costs_decide_many(
        costs=[a, b.pk, approved, sales, 987654],
        acting_user=org.eng_owner,
        approve=True,
        comment="bulk",
    )
    assert outcome[a.pk] is None and outcome[b.pk] is None
    assert "approved" in outcome[approved.pk]
    assert "not an approver" in outcome[sales.pk]
    assert outcome[987654] == "No such cost."
    assert set(Cost.objects.filter(decision_comment="bulk").values_list("pk", flat=True)) == {
        a.pk,
        b.pk,
    }
    assert Cost.objects.get(pk=sales.pk).status == "pending"


@pytest.fixture
def close_period(monkeypatch):
    """``close_period(day)``: register a cost-change guard freezing every day before ``day``
    (what costs.periods does for a closed accounting period)."""

    def close(first_open_day):
        def guard(*, day):
            if day < first_open_day:
                raise Conflict(f"The period of {day} is closed.", code="period_closed")

        monkeypatch.setattr(extensions, "cost_change_guards", lambda: (guard,), raising=False)

    return close


def test_cost_change_guard_blocks_create_edit_and_transitions(org, close_period):
    early = create(org, incurred_on=date(2025, 2, 10)).cost
    late = create(org).cost
    approved = services.cost_approve(
        cost=create(org, incurred_on=date(2025, 2, 11)).cost, acting_user=org.eng_owner
    )
    close_period(date(2025, 3, 1))
    before = (Cost.objects.count(), CostEvent.objects.count())
    with pytest.raises(Conflict):
        create(org, incurred_on=date(2025, 2, 20))
    with pytest.raises(Conflict):
        services.cost_approve(cost=early, acting_user=org.eng_owner)
    with pytest.raises(Conflict):
        services.cost_update(cost=early, acting_user=org.member, description="x")
    with pytest.raises(Conflict):
        services.cost_update(cost=late, acting_user=org.member, incurred_on=date(2025, 2, 1))
    with pytest.raises(Conflict):
        services.cost_void(cost=approved, acting_user=org.fin, reason="dup")
    assert (Cost.objects.count(), CostEvent.objects.count()) == before
    assert services.cost_approve(cost=late, acting_user=org.eng_owner).status == "approved"


def test_reconvert_skips_frozen_days(org, eur_rates, close_period):
    from costs.models import ExchangeRate

    early = create(org, currency="EUR", amount=Decimal("10.00"), incurred_on=date(2025, 2, 1))
    late = create(org, currency="EUR", amount=Decimal("10.00"), incurred_on=date(2025, 3, 2))
    close_period(date(2025, 3, 1))
    ExchangeRate.objects.filter(currency="EUR").update(rate=Decimal("2"))
    assert services.costs_reconvert(currency="EUR") == 1
    assert Cost.objects.get(pk=early.cost.pk).amount_reporting == Decimal("11.00")
    assert Cost.objects.get(pk=late.cost.pk).amount_reporting == Decimal("20.00")


# --- auditors read everything and change nothing ---------------------------------------


def _fresh(user):
    """The user as a new request would load it (no cached groups or units)."""
    return type(user).objects.get(pk=user.pk)


def _make_auditor(user):
    from django.contrib.auth.models import Group

    user.groups.add(Group.objects.get(name="auditor"))
    return _fresh(user)


def _refused(call, **kwargs):
    with pytest.raises(PermissionDenied) as refused:
        call(**kwargs)
    assert (refused.value.code, refused.value.message) == (
        "read_only",
        "Auditors read everything and change nothing.",
    )


def test_auditor_with_every_other_role_still_changes_nothing(org):
    """An auditor who is also a member, an approver member, a unit owner and a delegate
    neither creates, edits, submits, cancels, revises nor decides a cost."""
    from django.utils import timezone

    from costs import selectors
    from costs.approvers import can_decide
    from orgunits import services as org_services

    today = timezone.localdate()
    aud = org.aud
    org_services.membership_set(user=aud, unit=org.platform, role="member")
    org_services.membership_set(user=aud, unit=org.eng, role="approver")
    org_services.unit_update(unit=org.sales, owner=aud)
    org_services.delegation_create(
        delegator=org.eng_owner, delegate=aud, start_date=today, end_date=today
    )
    # costs booked while aud was not yet an auditor, and costs routed to aud
    own_draft = create(org, submitted_by=org.member, draft=True).cost
    Cost.objects.filter(pk=own_draft.pk).update(submitted_by=aud)
    own_pending = make_cost(submitted_by=org.member, organization_unit=org.platform)
    Cost.objects.filter(pk=own_pending.pk).update(submitted_by=aud)
    own_rejected = make_cost(
        status="rejected", submitted_by=org.member, organization_unit=org.platform
    )
    Cost.objects.filter(pk=own_rejected.pk).update(submitted_by=aud)
    routed = make_cost(submitted_by=org.member, organization_unit=org.platform)  # eng_owner's
    owned = make_cost(submitted_by=org.sales_member, organization_unit=org.sales)
    assert owned.approver != aud  # approver resolution skips auditors ...
    Cost.objects.filter(pk=owned.pk).update(approver=aud)  # ... routed before aud was one
    owned = Cost.objects.get(pk=owned.pk)
    aud = _fresh(aud)
    before = (Cost.objects.count(), CostEvent.objects.count(), Notification.objects.count())

    _refused(create, org=org, submitted_by=aud)
    _refused(create, org=org, submitted_by=aud, draft=True)
    _refused(services.cost_record, user=aud, amount=Decimal("1"), organization_unit=org.platform)
    for cost in (own_draft, own_pending):
        _refused(services.cost_update, cost=cost, acting_user=aud, description="x")
        _refused(services.cost_cancel, cost=cost, acting_user=aud)
    _refused(services.cost_submit, cost=own_draft, acting_user=aud)
    _refused(services.cost_revise, cost=own_rejected, acting_user=aud)
    for cost in (routed, owned):
        assert not can_decide(aud, cost)
        _refused(services.cost_approve, cost=cost, acting_user=aud)
        _refused(services.cost_reject, cost=cost, acting_user=aud, comment="no")
    outcome = services.costs_decide_many(costs=[routed.pk, owned.pk], acting_user=aud, approve=True)
    assert set(outcome.values()) == {"Auditors read everything and change nothing."}
    assert list(selectors.costs_awaiting(aud)) == []

    assert (Cost.objects.count(), CostEvent.objects.count(), Notification.objects.count()) == (
        before
    )
    statuses = dict(Cost.objects.values_list("pk", "status"))
    assert statuses[own_draft.pk] == "draft" and statuses[own_rejected.pk] == "rejected"
    assert {statuses[c.pk] for c in (own_pending, routed, owned)} == {"pending"}
    # what aud may see is unchanged: everything
    assert selectors.cost_list(user=aud).count() == Cost.objects.count()


def test_auditor_in_finance_too_changes_nothing(org, eur_rates, tmp_path):
    from costs.models import CostCategory, ExchangeRate

    both = _make_auditor(finance_user(username="fin_aud"))
    approved = make_cost(status="approved", submitted_by=org.member, organization_unit=org.platform)
    to_finance = make_cost(submitted_by=org.fin)  # nobody owns its fresh unit: finance decides
    assert to_finance.approver is None
    rate = ExchangeRate.objects.get(currency="GBP")
    rates_csv = tmp_path / "rates.csv"
    rates_csv.write_text("date,currency,rate\n2025-01-01,CHF,1.10\n")
    categories = list(CostCategory.objects.order_by("pk").values())
    rates = list(ExchangeRate.objects.order_by("pk").values())

    _refused(services.cost_void, cost=approved, acting_user=both, reason="duplicate")
    _refused(services.cost_approve, cost=to_finance, acting_user=both)
    _refused(services.cost_update, cost=to_finance, acting_user=both, description="x")
    _refused(services.category_create, name="GPU", slug="gpu", acting_user=both)
    _refused(services.category_update, category=category("saas"), name="X", acting_user=both)
    _refused(services.category_delete, category=category("saas"), acting_user=both)
    _refused(
        services.exchange_rate_set,
        currency="CHF",
        date=date(2025, 1, 1),
        rate=Decimal("1.1"),
        acting_user=both,
    )
    _refused(services.exchange_rate_update, exchange_rate=rate, rate=Decimal("2"), acting_user=both)
    _refused(services.exchange_rate_delete, exchange_rate=rate, acting_user=both)
    _refused(services.exchange_rates_load_csv, path=rates_csv, acting_user=both)

    assert Cost.objects.get(pk=approved.pk).status == "approved"
    assert Cost.objects.get(pk=to_finance.pk).status == "pending"
    assert list(CostCategory.objects.order_by("pk").values()) == categories
    assert list(ExchangeRate.objects.order_by("pk").values()) == rates
