"""Filter and sort forms of the work lists. They validate shape only; a
value that does not parse is a form error (400), never a server error."""
from django import forms
from django.utils.translation import gettext_lazy as _

from cases.models import CaseState, Policy
from cases.references import parse_reference
from reviews.worklists import DEFAULT_SORT

# The list shows cases that are not closed.
STATE_CHOICES = [("", _("Any state")), *[(v, label) for v, label in CaseState.choices if v != CaseState.CLOSED]]

SORT_CHOICES = [
    ("priority", _("Priority, highest first")),
    ("oldest", _("Oldest first")),
    ("newest", _("Newest first")),
    ("due", _("Due soonest, cases without a deadline last")),
]

_PRIORITY_LIMIT = 2**31 - 1


class PolicyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.local_name


class QueueFilterForm(forms.Form):
    state = forms.ChoiceField(label=_("State"), choices=STATE_CHOICES, required=False)
    policy = PolicyChoiceField(label=_("Policy"), queryset=Policy.objects.order_by("name"), to_field_name="code",
                               required=False, empty_label=_("Any policy"))
    min_priority = forms.IntegerField(label=_("Minimum priority"), required=False, min_value=-_PRIORITY_LIMIT,
                                      max_value=_PRIORITY_LIMIT)
    jurisdiction = forms.RegexField(label=_("Jurisdiction"), regex=r"^[A-Za-z]{2}$", required=False, max_length=2,
                                    help_text=_("Two-letter country code, e.g. DE"),
                                    error_messages={"invalid": _("Enter a two-letter country code, e.g. DE.")})
    at_risk = forms.BooleanField(label=_("At risk or breached only"), required=False)
    reference = forms.CharField(label=_("Case reference"), required=False, max_length=40,
                                help_text=_("e.g. 1JF3-K9Q7-XZA0"))
    sort = forms.ChoiceField(label=_("Sort by"), choices=SORT_CHOICES, required=False)
    cursor = forms.CharField(required=False, max_length=512, widget=forms.HiddenInput)

    def clean_jurisdiction(self):
        return (self.cleaned_data.get("jurisdiction") or "").upper() or None

    def clean_reference(self):
        text = (self.cleaned_data.get("reference") or "").strip()
        if not text:
            return None
        head = parse_reference(text)
        if head is None:
            raise forms.ValidationError(_("Enter a case reference of 12 letters and digits, e.g. 1JF3-K9Q7-XZA0."))
        return head

    def clean_sort(self):
        return self.cleaned_data.get("sort") or DEFAULT_SORT

    def filters(self):
        """Keyword arguments for reviews.worklists.queue_cases."""
        data = self.cleaned_data
        return {
            "state": data.get("state") or None,
            "policy": data.get("policy"),
            "min_priority": data.get("min_priority"),
            "at_risk": bool(data.get("at_risk")),
            "jurisdiction": data.get("jurisdiction"),
            "reference": data.get("reference"),
            "sort": data.get("sort") or DEFAULT_SORT,
        }
