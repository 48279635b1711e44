"""Forms of the cost pages: inbox filters, decisions (one cost or many) and void reasons.

Forms only validate what the user typed; the services in ``costs.services`` hold the rules.
"""

from django import forms

from orgunits.models import OrganizationUnit

from .models import CostCategory

DECISIONS = (("approve", "Approve"), ("reject", "Reject"))
MAX_COMMENT = 2000


class _TreeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{'· ' * obj.level}{obj.name}"


class InboxFilterForm(forms.Form):
    """The approval inbox filters; every field is optional."""

    unit = _TreeChoiceField(
        queryset=OrganizationUnit.objects.none(),
        required=False,
        empty_label="Any unit",
        help_text="Includes its subunits.",
    )
    category = _TreeChoiceField(
        queryset=CostCategory.objects.none(),
        required=False,
        empty_label="Any category",
        help_text="Includes its subcategories.",
    )
    amount_min = forms.DecimalField(
        required=False, label="Reporting amount from", max_digits=20, decimal_places=8
    )
    amount_max = forms.DecimalField(
        required=False, label="Reporting amount to", max_digits=20, decimal_places=8
    )
    age = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=36500,
        label="Waiting at least (days)",
    )
    q = forms.CharField(required=False, max_length=200, label="Description contains")

    def __init__(self, *args, units, categories, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units
        self.fields["category"].queryset = categories

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("amount_min"), cleaned.get("amount_max")
        if low is not None and high is not None and high < low:
            self.add_error("amount_max", "The upper bound is below the lower bound.")
        return cleaned


class DecisionForm(forms.Form):
    """Approve or reject one cost; the comment is optional (also for a rejection)."""

    decision = forms.ChoiceField(choices=DECISIONS)
    comment = forms.CharField(required=False, max_length=MAX_COMMENT, widget=forms.Textarea)


class BulkDecisionForm(forms.Form):
    """Approve or reject the selected costs with one comment."""

    decision = forms.ChoiceField(choices=DECISIONS)
    comment = forms.CharField(required=False, max_length=MAX_COMMENT, widget=forms.Textarea)
    costs = forms.TypedMultipleChoiceField(coerce=int, choices=(), required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # any id may be posted; which ones the user may decide is the services' question
        raw = self.data.getlist("costs") if hasattr(self.data, "getlist") else []
        self.fields["costs"].choices = [(v, v) for v in raw if str(v).isdigit()]
        self.fields["costs"].error_messages["required"] = "Select at least one cost."
        self.fields["costs"].error_messages["invalid_choice"] = "Unknown cost id %(value)s."


class CommentForm(forms.Form):
    """Submit, approve, revise or cancel a cost with an optional comment; finance may give
    an override reason to submit or approve past a budget block."""

    comment = forms.CharField(required=False, max_length=MAX_COMMENT, widget=forms.Textarea)
    override_reason = forms.CharField(required=False, max_length=MAX_COMMENT, widget=forms.Textarea)


class VoidForm(forms.Form):
    """Void an approved cost: finance only, the reason is required."""

    reason = forms.CharField(max_length=MAX_COMMENT, widget=forms.Textarea)


class ImportDecisionForm(forms.Form):
    """Approve or reject the pending costs of one import routed to one approver (empty:
    the costs finance decides). The import service requires a comment for a rejection."""

    decision = forms.ChoiceField(choices=DECISIONS)
    comment = forms.CharField(required=False, max_length=MAX_COMMENT, widget=forms.Textarea)
    approver = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
