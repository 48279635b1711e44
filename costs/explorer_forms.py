"""The cost explorer's filters, turned into the cost list API's query parameters.

The explorer lists, totals and exports exactly what ``GET /api/v1/costs/`` answers for
``ExplorerForm.api_filters()``: its CSV download is that endpoint's CSV. The choices are
what the user may see (the API's selectors), so another unit's id is refused as an
unknown choice.
"""

from html import escape

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.safestring import SafeString

from orgunits import selectors as org_selectors

from . import reports, selectors
from .forms import _TreeChoiceField
from .models import Cost

GROUP_CHOICES = [
    ("", "—"),
    ("organization_unit", "Unit"),
    ("category", "Category"),
    ("resource", "Resource"),
    ("entity", "Entity"),
    ("provider", "Provider"),
    ("currency", "Currency"),
    ("month", "Month"),
    ("quarter", "Quarter"),
    ("day", "Day"),
    ("tag", "Tag (key below)"),
]
DEFAULT_STATUS = Cost.Status.APPROVED


class _NamedChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        unit = getattr(obj, "organization_unit", None)
        return f"{obj.name} ({unit.name})" if unit is not None else obj.name


class _ManyOptionsSelect(forms.Select):
    """A select of thousands of options (an organisation's resources) written in one pass:
    Django's own renders each option through a template, which took half a second a page
    for 3,000 resources. Same markup: the name, the attributes, the options escaped."""

    def render(self, name, value, attrs=None, renderer=None):
        chosen = "" if value in (None, "") else str(value)
        # every value and label escaped here (quotes too), so the joined options are safe
        options = SafeString(  # nosec B703 - values and labels escaped just below
            "".join(
                f'<option value="{escape(str(key))}"'
                f"{' selected' if str(key) == chosen else ''}>{escape(str(label))}</option>"
                for key, label in self.choices
            )
        )
        attributes = flatatt(self.build_attrs(self.attrs, attrs))
        return format_html('<select name="{}"{}>{}</select>', name, attributes, options)


def _named_choices(queryset, empty_label: str) -> list[tuple]:
    """(id, "name (unit)") of ``queryset`` read as plain values, not model instances."""
    rows = queryset.values_list("pk", "name", "organization_unit__name")
    return [("", empty_label), *((pk, f"{n} ({u})" if u else n) for pk, n, u in rows)]


class ExplorerForm(forms.Form):
    """Filters (all optional) and up to two group-by keys."""

    organization_unit = _TreeChoiceField(
        queryset=None, required=False, label="Unit", empty_label="Any unit",
        help_text="Includes its subunits.",
    )  # fmt: skip
    category = _TreeChoiceField(
        queryset=None, required=False, empty_label="Any category",
        help_text="Includes its subcategories.",
    )  # fmt: skip
    resource = _NamedChoiceField(
        queryset=None, required=False, empty_label="Any resource", widget=_ManyOptionsSelect
    )
    entity = _NamedChoiceField(
        queryset=None, required=False, empty_label="Any entity", widget=_ManyOptionsSelect
    )
    tag = forms.CharField(
        required=False, max_length=300, label="Tag", help_text="key=value, e.g. team=data."
    )
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Cost.Status.choices])
    incurred_after = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    incurred_before = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    currency = forms.CharField(
        required=False, max_length=8, label="Currency", help_text="The cost's own currency."
    )
    group_by = forms.ChoiceField(required=False, choices=GROUP_CHOICES, label="Group by")
    then_by = forms.ChoiceField(required=False, choices=GROUP_CHOICES, label="Then by")
    group_tag = forms.CharField(required=False, max_length=100, label="Tag key to group by")

    def __init__(self, data=None, *, user, **kwargs):
        if data is not None and not data:
            data = {"status": DEFAULT_STATUS}  # a first visit shows approved spend
        super().__init__(data, **kwargs)
        self.fields["organization_unit"].queryset = org_selectors.unit_list(user=user)
        self.fields["category"].queryset = selectors.category_list()
        for name, queryset in (
            ("resource", org_selectors.resource_list(user=user)),
            ("entity", org_selectors.entity_list(user=user)),
        ):
            field = self.fields[name]
            field.queryset = queryset  # what a chosen id is checked against
            field.widget.choices = _named_choices(queryset, field.empty_label)

    def clean_tag(self) -> str:
        raw = self.cleaned_data["tag"].strip()
        if not raw:
            return ""
        key, sep, value = raw.partition("=")
        if not sep:
            key, sep, value = raw.partition(":")
        if not sep or not key.strip():
            raise forms.ValidationError("Write the tag as key=value.")
        return f"{key.strip()}:{value.strip()}"

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("incurred_after"), cleaned.get("incurred_before")
        if start and end and end < start:
            self.add_error("incurred_before", "The end is before the start.")
        keys = []
        for name in ("group_by", "then_by"):
            key = cleaned.get(name) or ""
            if key == "tag":
                tag = (cleaned.get("group_tag") or "").strip()
                if not tag:
                    self.add_error("group_tag", "Give the tag key to group by.")
                    continue
                key = f"{reports.TAG_PREFIX}{tag}"
            if key:
                keys.append(key)
        try:
            cleaned["keys"] = reports.parse_group_by(keys)
        except reports.ValidationError as exc:
            self.add_error("then_by", exc.message)
        return cleaned

    def api_filters(self) -> dict[str, str]:
        """The cost list API's query parameters of these filters (a valid form)."""
        d = self.cleaned_data
        params: dict[str, str] = {}
        if d.get("organization_unit"):
            params["organization_unit"] = str(d["organization_unit"].pk)
            params["include_descendants"] = "true"
        for name in ("category", "resource", "entity"):
            if d.get(name):
                params[name] = str(d[name].pk)
        if d.get("tag"):
            params["tags"] = d["tag"]
        if d.get("status"):
            params["status"] = d["status"]
        for name in ("incurred_after", "incurred_before"):
            if d.get(name):
                params[name] = d[name].isoformat()
        if d.get("currency"):
            params["currency"] = d["currency"]
        return params
