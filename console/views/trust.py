"""DSA pages for leads and auditors: trusted flaggers, reporter sanctions and
repeat-offender proposals (Art. 22, 23), and the transparency report. Leads
confirm or reject proposed suspensions of reporters' notices and lift them
early here (trust.abuse, audited)."""

from datetime import UTC, datetime, time, timedelta

from django import forms
from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from cases.errors import DomainError
from cases.models import Case
from cases.visibility import hidden_queues
from trust import selectors
from trust.abuse import LEAD_NOTE_MAX, STATEMENT_MAX, suspension_confirm, suspension_lift, suspension_reject
from trust.models import ReporterSanction
from trust.transparency import case_ids_in, transparency_report, without_cases

from ..decorators import console_view

FIGURE_CASES_SHOWN = 20

# Labels for the keys the report carries (codes stay in the JSON).
FIGURE_LABELS = {
    "total": gettext_lazy("Total"), "by_category": gettext_lazy("By category"),
    "by_reporter_type": gettext_lazy("By reporter type"),
    "trusted_flagger_claims_not_confirmed": gettext_lazy("Trusted-flagger claims not confirmed (filed as user reports)"),
    "held_from_suspended_reporters": gettext_lazy("Held: from reporters whose notices are suspended"),
    "by_ground": gettext_lazy("By ground"), "by_outcome": gettext_lazy("By outcome"),
    "own_initiative": gettext_lazy("Own-initiative actions"),
    "automated_detection": gettext_lazy("Detected by automated means"),
    "automated_decision": gettext_lazy("Decided by automated means"),
    "time_to_action": gettext_lazy("Time to action (original decisions)"),
    "received": gettext_lazy("Received"), "by_basis": gettext_lazy("By who complained"),
    "decided": gettext_lazy("Decided"), "outcomes": gettext_lazy("Outcomes"),
    "time_to_decide": gettext_lazy("Time to decide"), "reversals": gettext_lazy("Reversals"),
    "staff_claims_not_confirmed": gettext_lazy("Staff claims not confirmed (filed as user reports)"),
    "notices": gettext_lazy("Notices"), "upheld": gettext_lazy("Upheld (accuracy: upheld / decided)"),
    "handling_time": gettext_lazy("Time from notice to decision"),
    "reporter_sanctions": gettext_lazy("Reporter sanctions (Art. 23(2))"),
    "account_proposals": gettext_lazy("Repeat-offender proposals (Art. 23(1))"),
}
SECTION_LABELS = {
    "notices": gettext_lazy("Notices"), "actions": gettext_lazy("Actions"),
    "complaints": gettext_lazy("Complaints (appeals)"), "article_23": gettext_lazy("Measures under Art. 23"),
    "trusted_flaggers": gettext_lazy("Trusted flaggers (Art. 22)"),
}


class ConfirmSuspensionForm(forms.Form):
    statement = forms.CharField(
        label=gettext_lazy("Statement for the reporter"), required=False, max_length=STATEMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("Leave empty to send the proposed text with the end date."))


class LeadReasonForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=LEAD_NOTE_MAX,
                             widget=forms.Textarea(attrs={"rows": 2}))


def _overview(request, *, failed=None, status=200):
    """The page; `failed` = (sanction id, bound form with errors) re-shown beside that sanction."""
    now = timezone.now()
    awaiting, running = selectors.suspensions_awaiting_lead(), selectors.suspensions_running(now=now)
    for sanction in awaiting + running:
        sanction.failed_form = failed[1] if failed and str(sanction.pk) == str(failed[0]) else None
    figures = selectors.flagger_figures(now=now)
    return render(request, "console/trust/overview.html", {
        "nav": "trust", "window_days": figures.days, "flaggers": figures.figures,
        "flaggers_computed_at": figures.computed_at,
        "sanctions": selectors.recent_sanctions(), "proposals": selectors.recent_proposals(),
        "awaiting": awaiting, "running": running, "is_lead": request.roles.is_lead,
        "held": selectors.held_notice_count(now=now, days=figures.days), "now": now,
    }, status=status)


@console_view(require="can_see_dashboard")
@require_GET
def trust_overview(request):
    return _overview(request)


def _sanction_action(request, sanction_id, form_class, call, done_message):
    """A lead's decision on one suspension: 400 for a form error, 409 when the
    state does not allow it (both re-render the page with the error), else
    back to the page with `done_message`."""
    if not ReporterSanction.objects.filter(pk=sanction_id).exists():
        raise Http404("no such reporter sanction")
    form = form_class(request.POST)
    if not form.is_valid():
        return _overview(request, failed=(sanction_id, form), status=400)
    try:
        call(form.cleaned_data)
    except DomainError as exc:
        form.add_error(getattr(exc, "field", None) if getattr(exc, "field", None) in form.fields else None, str(exc))
        return _overview(request, failed=(sanction_id, form), status=409)
    messages.success(request, done_message)
    return redirect("console:trust")


@console_view(require="is_lead")
@require_POST
def sanction_confirm(request, sanction_id):
    return _sanction_action(
        request, sanction_id, ConfirmSuspensionForm,
        lambda data: suspension_confirm(sanction_id=sanction_id, lead=request.user, statement=data["statement"]),
        _("The suspension is confirmed: the reporter's notices are held until it ends."))


@console_view(require="is_lead")
@require_POST
def sanction_reject(request, sanction_id):
    return _sanction_action(
        request, sanction_id, LeadReasonForm,
        lambda data: suspension_reject(sanction_id=sanction_id, lead=request.user, reason=data["reason"]),
        _("The proposed suspension is rejected: the reporter's notices are processed as before."))


@console_view(require="is_lead")
@require_POST
def sanction_lift(request, sanction_id):
    return _sanction_action(
        request, sanction_id, LeadReasonForm,
        lambda data: suspension_lift(sanction_id=sanction_id, lead=request.user, reason=data["reason"]),
        _("The suspension is lifted: the reporter's notices are processed again."))


class PeriodForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("First day"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=gettext_lazy("Last day"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", _("The last day must not be before the first day."))
        return data


def _sections(report):
    """[(section label, [(figure label, key or "", figure, the case ids shown, how many more, how many
    hidden from the viewer, accuracy in % or None)])]."""
    out = []
    for section, figures in report.items():
        if section == "period":
            continue
        rows = []
        for name, value in figures.items():
            label = FIGURE_LABELS.get(name, name)
            entries = [("", value)] if "count" in value else list(value.items())
            rows.extend((label, key, figure, figure["case_ids"][:FIGURE_CASES_SHOWN],
                         max(0, len(figure["case_ids"]) - FIGURE_CASES_SHOWN), figure.get("hidden_cases", 0),
                         None if figure.get("accuracy") is None else round(100 * figure["accuracy"]))
                        for key, figure in entries)
        out.append((SECTION_LABELS.get(section, section), rows))
    return out


def _visible_to(user, report: dict) -> dict:
    """The report with only the case ids `user` may open (queues restricted
    away from them are left out; cases.visibility), each figure saying how
    many it does not list. One query, none for someone who sees everything."""
    hidden_q, hidden = hidden_queues(user), set()
    ids = case_ids_in(report)
    if hidden_q is not None and ids:
        hidden = {str(pk) for pk in Case.objects.filter(pk__in=ids, queue_id__in=hidden_q).values_list("pk", flat=True)}
    return without_cases(report, hidden)


@console_view(require="can_see_dashboard")
@require_GET
def transparency(request):
    today = timezone.now().date()
    data = request.GET if request.GET else {"start": today.replace(day=1), "end": today}
    form = PeriodForm(data)
    if not form.is_valid():
        return render(request, "console/trust/transparency.html",
                      {"nav": "trust", "form": form, "sections": None}, status=400)
    start = datetime.combine(form.cleaned_data["start"], time.min, tzinfo=UTC)
    end = datetime.combine(form.cleaned_data["end"] + timedelta(days=1), time.min, tzinfo=UTC)
    report = _visible_to(request.user, transparency_report(start=start, end=end))
    if request.GET.get("format") == "json":
        return JsonResponse(report, json_dumps_params={"ensure_ascii": False})
    return render(request, "console/trust/transparency.html", {
        "nav": "trust", "form": form, "sections": _sections(report),
        "json_query": request.GET.urlencode(),
    })
