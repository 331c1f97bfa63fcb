"""The supervisor dashboard and the audit view (leads and auditors)."""

import json
import uuid
from datetime import timedelta

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.http import urlencode
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from audit.evidence import stream_evidence
from audit.models import AuditAction
from audit.selectors import audit_event_search
from audit.services import case_stream
from cases.references import reference_q
from cases.services import case_access_denied_record
from cases.translations import translated_name
from cases.visibility import case_access, hidden_case_streams, sees_all_queues, visible_cases
from reviews import stats
from rules.selectors import rules_drifting

from ..charts import Series, bar_chart
from ..decorators import console_view
from ..verify_report import verify_report

# ---- dashboard ---------------------------------------------------------------------


class WindowForm(forms.Form):
    window = forms.ChoiceField(
        label=gettext_lazy("Time window"), required=False,
        choices=[("24h", gettext_lazy("Last 24 hours")), ("7d", gettext_lazy("Last 7 days"))],
    )


@console_view(require="can_see_dashboard")
@require_GET
def dashboard(request):
    # Unbound fields show their first choice; the select must show the window the figures cover.
    form = WindowForm(request.GET or {"window": stats.DEFAULT_WINDOW})
    if not form.is_valid():
        return render(request, "console/insight/dashboard.html",
                      {"nav": "dashboard", "form": form, "figures": None}, status=400)
    figures = stats.dashboard_figures(window=form.cleaned_data["window"] or stats.DEFAULT_WINDOW, user=request.user)
    return render(request, "console/insight/dashboard.html", {
        "nav": "dashboard", "form": form, "figures": figures, "min_units": stats.MIN_AGREEMENT_UNITS,
        # Drift alerts of active rules (rules/drift.py), for the leads who can act on them.
        "drifting_rules": list(rules_drifting()[:20]) if request.roles.is_lead else [],
        "agreement": [a for a in figures.agreement if a.policy],
        "agreement_overall": figures.agreement[-1],
        "first_action_text": _median_text(figures.first_action, figures.now),
        "decision_text": _median_text(figures.decision, figures.now),
        "backlog_chart": bar_chart(
            chart_id="backlog-chart", title=_("Backlog per queue"),
            categories=[translated_name(q) for q in figures.backlog],
            series=[
                Series(_("Open"), tuple(q.open for q in figures.backlog), "series-0"),
                Series(_("In review"), tuple(q.in_review for q in figures.backlog), "series-1"),
                Series(_("Escalated"), tuple(q.escalated for q in figures.backlog), "series-2"),
                Series(_("On hold"), tuple(q.on_hold for q in figures.backlog), "series-3"),
            ],
        ),
        "daily_chart": bar_chart(
            chart_id="daily-chart", title=_("Decisions and breaches per day, last 7 days"),
            categories=[_day_label(d.day) for d in figures.days],
            series=[
                Series(_("Decisions"), tuple(d.decisions for d in figures.days), "series-0"),
                Series(_("Breaches"), tuple(d.breaches for d in figures.days), "series-2"),
            ],
        ),
    })


def _day_label(day):
    return date_format(day, "SHORT_DATE_FORMAT")


def _median_text(median, now):
    """A median duration in words ("2 hours, 5 minutes"), in the user's language."""
    if median.duration is None:
        return None
    if median.duration < timedelta(minutes=1):
        return ngettext("%(n)s second", "%(n)s seconds", median.duration.seconds) % {"n": median.duration.seconds}
    return timesince(now - median.duration, now)


# ---- audit view --------------------------------------------------------------------

_DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]


# What an audit event is about, in the console's language (the code stays in the data).
TARGET_TYPES = {
    "adapter_config": gettext_lazy("platform adapter"), "api_client": gettext_lazy("API client"),
    "appeal": gettext_lazy("appeal"), "calendar": gettext_lazy("business calendar"), "case": gettext_lazy("case"),
    "decision": gettext_lazy("decision"), "demo_data": gettext_lazy("demo data"), "outcome": gettext_lazy("outcome"),
    "policy": gettext_lazy("policy"), "queue": gettext_lazy("queue"), "review": gettext_lazy("review"),
    "routing_rule": gettext_lazy("routing rule"), "sla_policy": gettext_lazy("SLA policy"), "user": gettext_lazy("user"),
    "webhook_endpoint": gettext_lazy("webhook endpoint"), "workflow": gettext_lazy("workflow"),
    "trusted_flagger": gettext_lazy("trusted flagger"), "strike": gettext_lazy("strike"),
    "strike_threshold": gettext_lazy("strike threshold"), "strike_proposal": gettext_lazy("repeat-offender proposal"),
    "reporter_sanction": gettext_lazy("reporter sanction"), "held_notice": gettext_lazy("held notice"),
}


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self):
        super().__init__(format="%Y-%m-%dT%H:%M")


class AuditSearchForm(forms.Form):
    case = forms.CharField(label=gettext_lazy("Case reference or id"), required=False, max_length=60)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_case(self):
        """A case id, or a short reference (cases.references) resolved among the cases the user may see."""
        text = (self.cleaned_data.get("case") or "").strip()
        if not text:
            return None
        try:
            return uuid.UUID(text)
        except ValueError:
            pass
        found = reference_q(text)
        if found is None:
            raise forms.ValidationError(_("Enter a case reference (e.g. 1JF3-K9Q7-XZA0) or a case id."))
        ids = list(visible_cases(self.user).filter(found).values_list("pk", flat=True)[:2])
        if not ids:
            raise forms.ValidationError(_("No case has this reference."))
        if len(ids) > 1:
            raise forms.ValidationError(_("Several cases have this reference: search by the case id."))
        return ids[0]
    actor = forms.CharField(label=gettext_lazy("Actor (exact name)"), required=False, max_length=200)
    action = forms.ChoiceField(label=gettext_lazy("Action"), required=False,
                               choices=[("", gettext_lazy("Any action")), *AuditAction.choices])
    since = forms.DateTimeField(label=gettext_lazy("From"), required=False, input_formats=_DATETIME_FORMATS,
                                widget=LocalDateTimeInput())
    until = forms.DateTimeField(label=gettext_lazy("To"), required=False, input_formats=_DATETIME_FORMATS,
                                widget=LocalDateTimeInput())
    before = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            raise forms.ValidationError(_("“From” must be before “To”."))
        return data


@console_view(require="can_read_everything")
@require_GET
def audit_search(request):
    form = AuditSearchForm(request.GET, user=request.user)
    if not form.is_valid():
        return render(request, "console/insight/audit.html", {"nav": "audit", "form": form, "page": None},
                      status=400)
    query = form.cleaned_data
    page = audit_event_search(case_id=query["case"], actor_name=query["actor"].strip(), action=query["action"],
                              since=query["since"], until=query["until"], before=query["before"],
                              hidden_streams=hidden_case_streams(request.user))
    next_url = None
    if page.next_cursor is not None:
        params = {k: v for k, v in request.GET.items() if k != "before" and v}
        next_url = f"{reverse('console:audit')}?{urlencode({**params, 'before': page.next_cursor})}"
    return render(request, "console/insight/audit.html", {
        "nav": "audit", "form": form, "page": page, "case_id": query["case"], "next_url": next_url,
        "first_page_url": (f"{reverse('console:audit')}?{urlencode({k: v for k, v in request.GET.items() if k != 'before'})}"
                           if query["before"] else None),
        "rows": [(event, _compact_json(event.data), TARGET_TYPES.get(event.target_type, event.target_type))
                 for event in page.events],
    })


def _compact_json(data):
    # Escaped by the template like any other text: the data holds reported strings.
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@console_view(require="can_read_everything")
@require_POST
def audit_verify(request, case_id):
    access = case_access(case_id=case_id, user=request.user)
    if access == "hidden":
        case_access_denied_record(case_id=case_id, user=request.user, path=request.path)
        raise Http404("no such case")
    if access == "missing" and not sees_all_queues(request.user):
        # The same answer as for a hidden case. Those who see every queue may still verify the stream of a
        # case that is gone (evidence of a deleted row).
        raise Http404("no such case")
    report = verify_report(stream_evidence(case_stream(case_id)))
    if request.htmx:
        return render(request, "console/insight/_verify.html", {"case_id": case_id, "report": report})
    (messages.success if report.ok else messages.error)(request, report.summary)
    for line in report.problems:
        messages.error(request, line)
    for line in report.checked:
        messages.info(request, line)
    for line in report.not_checked:
        messages.warning(request, line)
    return redirect(f"{reverse('console:audit')}?{urlencode({'case': str(case_id)})}")
