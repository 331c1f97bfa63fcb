"""Forms of the console's case page. They check the shape of the input;
the review services check its meaning (allowed outcome, seat held, duration
for time-limited outcomes ...) and their domain errors become form errors."""
from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from cases.models import Policy
from reviews.models import Outcome

MAX_RATIONALE = 20_000
MAX_REASON = 2_000
MAX_NOTE = 20_000
MAX_DURATION_DAYS = 36_500

APPROVE, REJECT = "approve", "reject"


class VoteForm(forms.Form):
    """A vote in the stage the reviewer saw (`review`): outcome and policy in
    review stages, approve or reject in approval stages."""

    review = forms.UUIDField(widget=forms.HiddenInput)
    outcome = forms.ModelChoiceField(queryset=Outcome.objects.filter(active=True), to_field_name="code",
                                     required=False, label=_("Outcome"))
    policy = forms.ModelChoiceField(queryset=Policy.objects.filter(active=True), to_field_name="code",
                                    required=False, label=_("Policy"))
    decision = forms.ChoiceField(choices=[(APPROVE, _("Approve")), (REJECT, _("Reject"))], required=False,
                                 label=_("Approve or reject"))
    rationale = forms.CharField(required=False, max_length=MAX_RATIONALE, widget=forms.Textarea,
                                label=_("Rationale"))
    public_explanation = forms.CharField(required=False, max_length=2000, widget=forms.Textarea,
                                         label=_("Public explanation"))
    duration_days = forms.IntegerField(required=False, min_value=1, max_value=MAX_DURATION_DAYS,
                                       label=_("Duration in days"))

    def vote_arguments(self):
        """Keyword arguments for reviews.services.vote_cast."""
        data = self.cleaned_data
        approved = None
        if data.get("decision"):
            approved = data["decision"] == APPROVE
        return {"outcome": data.get("outcome"), "policy": data.get("policy"), "approved": approved,
                "rationale": data.get("rationale") or "", "duration_days": data.get("duration_days"),
                "public_explanation": data.get("public_explanation") or ""}


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=MAX_REASON, label=_("Reason"))


class EscalateForm(ReasonForm):
    # the review the page showed: a second click, or a colleague's escalation first, moves nothing further up
    review = forms.UUIDField(required=False, widget=forms.HiddenInput)


class SendBackForm(forms.Form):
    review = forms.UUIDField(widget=forms.HiddenInput)
    to_stage = forms.SlugField(max_length=50, label=_("Send back to"))
    guidance = forms.CharField(max_length=MAX_REASON, label=_("Guidance for the lower tier"))


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(max_length=MAX_REASON, required=False, label=_("Reason"))


class AssignForm(forms.Form):
    review = forms.UUIDField(widget=forms.HiddenInput)
    moderator = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True),
                                       label=_("Moderator"))


class ClaimForm(forms.Form):
    """A seat in the stage the page showed (`review`)."""

    review = forms.UUIDField(widget=forms.HiddenInput)


class SeatForm(forms.Form):
    seat = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class NoteForm(forms.Form):
    review = forms.UUIDField(widget=forms.HiddenInput)
    text = forms.CharField(max_length=MAX_NOTE, widget=forms.Textarea, label=_("Note"))


def _codes(value: str) -> list[str]:
    return [code.strip() for code in (value or "").replace("\n", ",").split(",") if code.strip()]


class StatementCorrectionForm(forms.Form):
    """A lead's correction of a DSA statement of reasons: the fields leads
    most often fix. Lists are comma-separated codes; an emptied field is
    removed from the statement. The service validates the meaning."""

    LIST_FIELDS = ("territorial_scope", "content_type", "category_specification")
    TEXT_FIELDS = ("decision_facts", "category", "decision_ground", "illegal_content_legal_ground",
                   "illegal_content_explanation", "incompatible_content_ground", "incompatible_content_explanation",
                   "content_language")

    statement = forms.UUIDField(widget=forms.HiddenInput)
    decision_facts = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"lang": "en"}),
                                     label=_("Facts and reasons"))
    category = forms.CharField(required=False, max_length=100, label=_("Category"))
    category_specification = forms.CharField(required=False, max_length=2000, label=_("Category specifications"))
    decision_ground = forms.CharField(required=False, max_length=60, label=_("Decision ground"))
    illegal_content_legal_ground = forms.CharField(required=False, max_length=500, label=_("Legal ground"))
    illegal_content_explanation = forms.CharField(required=False, max_length=2000,
                                                  widget=forms.Textarea(attrs={"lang": "en"}),
                                                  label=_("Why the content is illegal"))
    incompatible_content_ground = forms.CharField(required=False, max_length=500, label=_("Terms clause"))
    incompatible_content_explanation = forms.CharField(required=False, max_length=2000,
                                                       widget=forms.Textarea(attrs={"lang": "en"}),
                                                       label=_("Why the content breaks the terms"))
    territorial_scope = forms.CharField(required=False, max_length=300, label=_("Territorial scope"))
    content_type = forms.CharField(required=False, max_length=300, label=_("Content type"))
    content_language = forms.CharField(required=False, max_length=2, label=_("Content language"))

    @classmethod
    def for_statement(cls, statement):
        payload = statement.payload or {}
        initial = {"statement": statement.pk}
        initial.update({name: payload.get(name) or "" for name in cls.TEXT_FIELDS})
        initial.update({name: ", ".join(payload.get(name) or []) for name in cls.LIST_FIELDS})
        return cls(prefix="correct", initial=initial)

    def changes(self, payload: dict) -> dict:
        """{field: new value or None} for what differs from `payload`."""
        data, out = self.cleaned_data, {}
        for name in self.TEXT_FIELDS:
            value = data.get(name, "").strip() or None
            if value != (payload.get(name) or None):
                out[name] = value
        for name in self.LIST_FIELDS:
            value = _codes(data.get(name, "")) or None
            if value != (payload.get(name) or None):
                out[name] = value
        return out
