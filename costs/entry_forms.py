"""Forms of the "Record a cost" and "My costs" pages.

``CostEntryForm`` reads what a person typed (the target picked from a list, the amount, tags
and metadata as key/value rows) and validates it with the API's own ``CostInputSerializer``,
so the page and ``POST /api/v1/costs/`` accept and refuse exactly the same input; the
services re-check every rule when the view calls them.
"""

import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.utils import timezone

from costtrack.core.money import CurrencyError, reporting_currency, round_money
from orgunits import selectors as org_selectors

from . import selectors
from .forms import MAX_COMMENT, _TreeChoiceField
from .models import Cost
from .serializers import CostInputSerializer

TARGET_PATTERN = re.compile(r"\[(unit|entity|resource) #(\d+)\]\s*$")
TARGET_FIELDS = {"unit": "organization_unit", "entity": "entity", "resource": "resource"}
# what the serializer and the services call a field -> the form field showing its errors
ERROR_FIELDS = {
    "organization_unit": "target",
    "entity": "target",
    "resource": "target",
    "amount": "amount",
    "currency": "currency",
    "incurred_on": "incurred_on",
    "category": "category",
    "description": "description",
    "url": "url",
    "tags": "tags",
    "metadata": "metadata",
    "override_reason": "override_reason",
    "comment": "comment",
}
BLANK_ROWS = 2
MAX_ROWS = 50
# a datalist longer than this is cut; an id may still be typed as "[resource #12]"
TARGET_CHOICES_CAP = 1000


def target_label(kind: str, obj) -> str:
    """What the target list shows and the form reads back: a name, then ``[kind #id]``."""
    if kind == "unit":
        return f"{obj.name} ({obj.code}) [unit #{obj.pk}]"
    where = obj.organization_unit.name
    if kind == "entity":
        return f"{obj.name} · entity in {where} [entity #{obj.pk}]"
    return f"{obj.name} · {obj.get_provider_display()} resource in {where} [resource #{obj.pk}]"


def cost_target_label(cost: Cost) -> str:
    """The label of what ``cost`` is booked on: its resource, else its entity, else its unit."""
    if cost.resource_id:
        return target_label("resource", cost.resource)
    if cost.entity_id:
        return target_label("entity", cost.entity)
    return target_label("unit", cost.organization_unit)


def target_choices(user) -> list[str]:
    """Labels of every unit, entity and resource ``user`` may book a cost to (the API's
    selectors), three queries."""
    units = org_selectors.unit_list(user=user)[:TARGET_CHOICES_CAP]
    entities = org_selectors.entity_list(user=user)[:TARGET_CHOICES_CAP]
    resources = org_selectors.resource_list(user=user)[:TARGET_CHOICES_CAP]
    return (
        [target_label("unit", u) for u in units]
        + [target_label("entity", e) for e in entities]
        + [target_label("resource", r) for r in resources]
    )


@dataclass
class Row:
    key: str = ""
    value: str = ""


def _rows(data, prefix: str) -> list[Row]:
    keys = data.getlist(f"{prefix}_key") if hasattr(data, "getlist") else []
    values = data.getlist(f"{prefix}_value") if hasattr(data, "getlist") else []
    values += [""] * (len(keys) - len(values))
    return [Row(k.strip(), v.strip()) for k, v in zip(keys, values, strict=False)][:MAX_ROWS]


def _rows_to_dict(rows: list[Row], what: str) -> tuple[dict[str, str], list[str]]:
    out: dict[str, str] = {}
    errors = []
    for row in rows:
        if not row.key:
            if row.value:
                errors.append(f"The {what} value '{row.value}' has no key.")
            continue
        if row.key in out:
            errors.append(f"The {what} key '{row.key}' is given twice.")
        out[row.key] = row.value
    return out, errors


class CostEntryForm(forms.Form):
    """Record a cost, or edit a draft or pending one (``instance``)."""

    target = forms.CharField(
        label="Book to",
        max_length=400,
        help_text="Type to search your units, entities and resources.",
        error_messages={"required": "Choose a resource, an entity or a unit."},
        widget=forms.TextInput(attrs={"list": "targets", "autocomplete": "off"}),
    )
    amount = forms.CharField(
        max_length=40,
        help_text="A plain decimal like 1250.00; negative for a credit.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    currency = forms.CharField(
        max_length=8, widget=forms.TextInput(attrs={"list": "currencies", "size": 6})
    )
    category = _TreeChoiceField(
        queryset=selectors.category_list(), required=False, empty_label="Other (default)"
    )
    incurred_on = forms.DateField(
        label="Date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    url = forms.CharField(
        label="Link",
        max_length=2000,
        required=False,
        help_text="An http(s) link, e.g. the invoice.",
    )
    description = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    comment = forms.CharField(
        max_length=MAX_COMMENT,
        required=False,
        label="Comment for the approver",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    override_reason = forms.CharField(
        max_length=MAX_COMMENT,
        required=False,
        label="Override a budget block: reason (finance)",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    # no inputs of their own: they carry the errors of the key/value rows
    tags = forms.CharField(required=False, widget=forms.HiddenInput)
    metadata = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, request, instance: Cost | None = None, can_override=False, **kw):
        super().__init__(*args, **kw)
        self.request = request
        self.instance = instance
        self.validated: dict[str, Any] = {}
        if not can_override:
            del self.fields["override_reason"]
        if instance is not None:
            self.fields["comment"].label = "Comment"
        data = self.data if self.is_bound else None
        if data is not None:
            self.tag_rows, self.metadata_rows = _rows(data, "tag"), _rows(data, "meta")
        elif instance is not None:
            self.tag_rows = [Row(k, str(v)) for k, v in sorted(instance.tags.items())]
            self.metadata_rows = [Row(k, _plain(v)) for k, v in sorted(instance.metadata.items())]
        else:
            self.tag_rows, self.metadata_rows = [], []
        if not self.is_bound:
            self.initial.update(self._initial(instance))

    @staticmethod
    def _initial(instance: Cost | None) -> dict[str, Any]:
        if instance is None:
            return {"currency": reporting_currency(), "incurred_on": timezone.localdate()}
        return {
            "target": cost_target_label(instance),
            "amount": _money_text(instance.amount, instance.currency),
            "currency": instance.currency,
            "category": instance.category_id,
            "incurred_on": instance.incurred_on,
            "url": instance.url,
            "description": instance.description,
        }

    def rows(self, which: str) -> list[Row]:
        filled = [r for r in getattr(self, f"{which}_rows") if r.key or r.value]
        return filled + [Row() for _ in range(BLANK_ROWS if filled else BLANK_ROWS + 1)]

    def clean(self):
        cleaned = super().clean()
        tags, tag_errors = _rows_to_dict(self.tag_rows, "tag")
        metadata, meta_errors = _rows_to_dict(self.metadata_rows, "metadata")
        for name, errors in (("tags", tag_errors), ("metadata", meta_errors)):
            for error in errors:
                self.add_error(name, error)
        target = None
        if cleaned.get("target"):
            target = TARGET_PATTERN.search(cleaned["target"])
            if target is None:
                self.add_error("target", "Choose a resource, an entity or a unit from the list.")
        # the API's checks run even when a field above failed, so that every field's
        # problem shows at once; a field that already has an error gets no second one
        serializer = CostInputSerializer(
            self.instance,
            data=self._payload(cleaned, target, tags, metadata),
            partial=self.instance is not None,
            context={"request": self.request},
        )
        valid = serializer.is_valid()
        if not valid:
            self.add_service_errors(
                {
                    name: messages
                    for name, messages in serializer.errors.items()
                    if ERROR_FIELDS.get(name) not in self.errors
                }
            )
        if valid and not self.errors:
            self.validated = dict(serializer.validated_data)
            for name in ("draft", "comment", "override_reason"):
                self.validated.pop(name, None)
        return cleaned

    def _payload(self, cleaned, target, tags, metadata) -> dict[str, Any]:
        """What the API would be sent for this form (the fields that were understood)."""
        payload: dict[str, Any] = {
            "category": cleaned["category"].pk if cleaned.get("category") else None,
            "description": cleaned.get("description", ""),
            "url": (cleaned.get("url") or "").strip(),
            "tags": tags,
            "metadata": metadata,
        }
        for name in ("amount", "currency"):
            if cleaned.get(name):
                payload[name] = cleaned[name].strip()
        if cleaned.get("incurred_on"):
            payload["incurred_on"] = cleaned["incurred_on"].isoformat()
        if target is None:
            return payload
        kind, pk = target.group(1), int(target.group(2))
        if self.instance is None:
            payload[TARGET_FIELDS[kind]] = pk
        else:
            # one target, the others cleared (an edit moves the cost); the unit follows a
            # resource or an entity, as in the API
            payload.update({"resource": None, "entity": None, TARGET_FIELDS[kind]: pk})
        return payload

    def add_service_errors(self, errors: dict[str, Any]) -> None:
        """Errors keyed by the API's field names, put next to the form's fields."""
        for name, messages in errors.items():
            if isinstance(messages, dict):
                messages = [f"{k}: {v}" for k, v in messages.items()]
            elif isinstance(messages, str):
                messages = [messages]
            field = ERROR_FIELDS.get(name)
            if field is not None and field not in self.fields:
                field = None
            for message in messages:
                self.add_error(field, str(message))


def _money_text(amount, currency: str) -> str:
    try:
        return str(round_money(amount, currency))
    except (CurrencyError, ArithmeticError):
        return str(amount)


def _plain(value) -> str:
    return value if isinstance(value, str) else str(value)


class MyCostsFilterForm(forms.Form):
    """The filters of "My costs"; every field is optional."""

    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Cost.Status.choices])
    incurred_after = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    incurred_before = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("incurred_after"), cleaned.get("incurred_before")
        if start and end and end < start:
            self.add_error("incurred_before", "The end is before the start.")
        return cleaned

    def api_filters(self) -> dict[str, str]:
        """The cost list API's query parameters for these filters (own costs)."""
        filters = {"submitted_by": "me"}
        for name in ("status", "incurred_after", "incurred_before"):
            value = getattr(self, "cleaned_data", {}).get(name)
            if value:
                filters[name] = value.isoformat() if hasattr(value, "isoformat") else value
        return filters
