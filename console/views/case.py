"""The case page: everything needed to decide one case, and what can be
done on it (vote, escalate, hold, resume, assign, release, renew, note,
reveal media).

Who may read: any console user may open the page of a case they may see —
every case outside restricted queues, and those of a queue restricted to
groups they are in (cases.visibility; admins, superusers and by default
auditors see all). A case hidden from the user answers 404 on its page and
on every URL under it, exactly like a case that does not exist (no
existence oracle), and the attempt is recorded (`case.access_denied`).
Reads are audited (`case.viewed`), so the record shows who looked.
Auditors read everything and change nothing: they get no forms and every
POST answers 403, except revealing media (looking is reading; it is
audited like everyone's).

Each action parses its form, calls one review service and redirects
(POST/redirect/GET) with a message; a domain error re-renders the page with
the error on the form, status 409 (conflict with the case's state) or 400
(bad input), never 500."""
from functools import wraps

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from cases.errors import DomainError
from cases.models import Case, CaseState, ReporterKind
from cases.services import case_access_denied_record, case_media_reveal_record, case_view_record
from cases.visibility import case_access
from dsa.selectors import case_statements
from reviews import casefile, worklists
from reviews.errors import InvalidVote
from reviews.models import ReviewState, SeatState
from reviews.services import (
    case_escalate,
    case_hold,
    case_resume,
    case_send_back,
    eligibility_problem,
    lease_renew,
    note_add,
    seat_assign,
    seat_release,
    vote_cast,
)
from reviews.services.seats import seat_claim
from reviews.tiers import next_tier_key, tiers_below
from signals import selectors as signal_selectors
from trust.selectors import account_standing

from ..decorators import console_view
from ..domain_messages import domain_message
from ..forms import (
    AssignForm,
    ClaimForm,
    EscalateForm,
    NoteForm,
    OptionalReasonForm,
    ReasonForm,
    SeatForm,
    SendBackForm,
    VoteForm,
)
from ..timeline import present_timeline
from .work import claim_next_in

REVEALED_SESSION_KEY = "console_revealed_media"
REVEALED_CASES_KEPT = 50

REPORTER_KINDS = dict(ReporterKind.choices)
CASE_STATES = dict(CaseState.choices)
REVIEW_STATES = dict(ReviewState.choices)
SEAT_STATES = dict(SeatState.choices)
RELATIONS = {
    "same_subject": gettext_lazy("Same subject"),
    "author_account": gettext_lazy("The author's account"),
    "author_content": gettext_lazy("Other content by the author"),
    "account_content": gettext_lazy("Content by this account"),
    "same_media": gettext_lazy("Same media (hash)"),
}


# ---- reading -------------------------------------------------------------------

def _revealed(request, case_id):
    return set(request.session.get(REVEALED_SESSION_KEY, {}).get(str(case_id), []))


def _remember_revealed(request, case_id, index):
    revealed = dict(request.session.get(REVEALED_SESSION_KEY, {}))
    key = str(case_id)
    indices = sorted(set(revealed.pop(key, [])) | {index})
    revealed[key] = indices  # re-inserted last: the oldest cases are dropped first
    while len(revealed) > REVEALED_CASES_KEPT:
        revealed.pop(next(iter(revealed)))
    request.session[REVEALED_SESSION_KEY] = revealed


def _kind_label(kind, claimed):
    label = REPORTER_KINDS.get(kind, kind)
    if not claimed:
        return label
    # trust: the client claimed another kind that the registry did not confirm (e.g. an unregistered flagger)
    return _("%(kind)s (claimed: %(claimed)s, not confirmed)") % {"kind": label,
                                                                   "claimed": REPORTER_KINDS.get(claimed, claimed)}


def _present(cf):
    """Translated labels for the codes the case file carries."""
    for group in cf.report_groups:
        for kind in group["kinds"]:
            kind["label"] = _kind_label(kind["kind"], kind["claimed"])
    for report in cf.recent_reports:
        report.kind_label = _kind_label(report.reporter_kind, report.claimed_reporter_kind)
    for related in cf.related:
        related.label = RELATIONS.get(related.relation, related.relation)
        related.state_label = CASE_STATES.get(related.case.state, related.case.state)
    for rf in cf.reviews:
        rf.state_label = REVIEW_STATES.get(rf.review.state, rf.review.state)
        for seat in rf.seats:
            seat.state_label = SEAT_STATES.get(seat.state, seat.state)
    present_timeline(cf)
    return cf


def _may_claim(cf, user) -> bool:
    """Whether the page offers "Claim this case": a seat is free in the open stage, the user holds none
    there and the service's eligibility rules let them take one (a few queries, only in that situation)."""
    if not cf.is_open or cf.free_seats <= 0 or cf.my_seat is not None:
        return False
    review = cf.review
    review.case = cf.case  # already read with its subject and author: eligibility needs no second read
    return eligibility_problem(review, user) is None


def _forms_for(cf, forms):
    review_id = cf.review.pk if cf.review else None
    top_policy = next((p.code for p in cf.policies if p.pk == cf.top_policy_id), "")
    out = {
        "vote": VoteForm(initial={"review": review_id, "policy": top_policy}),
        "escalate": EscalateForm(prefix="escalate", initial={"review": review_id}),
        "sendback": SendBackForm(prefix="sendback", initial={"review": review_id}),
        "hold": ReasonForm(prefix="hold"),
        "resume": OptionalReasonForm(prefix="resume"),
        "assign": AssignForm(initial={"review": review_id}),
        "claim": ClaimForm(initial={"review": review_id}),
        "note": NoteForm(initial={"review": review_id}),
    }
    out.update(forms or {})
    return out


def _not_found(request, case_id):
    """The 404 for a case the user may not open; records the attempt when the
    case exists (hidden from them), so that the response is the same either way."""
    if case_access(case_id=case_id, user=request.user) == "hidden":
        case_access_denied_record(case_id=case_id, user=request.user, path=request.path)
    return Http404("no such case")


def visible_case_only(view):
    """For the URLs under a case: 404 (and `case.access_denied`) unless the
    user may see the case. Runs before the view parses anything."""

    @wraps(view)
    def wrapped(request, case_id, *args, **kwargs):
        if case_access(case_id=case_id, user=request.user) != "visible":
            raise _not_found(request, case_id)
        return view(request, case_id, *args, **kwargs)

    return wrapped


# Where each form's errors are shown in full: the error summary links there.
FORM_PANELS = {"vote": "vote-panel", "claim": "vote-panel", "correct": "statement-panel"}


def _error_summary(forms) -> list[tuple[str, str]]:
    summary = []
    for prefix, form in forms.items():
        if not form.is_bound:
            continue
        anchor = FORM_PANELS.get(prefix, "actions-panel")
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields and form.fields[field].label else ""
            for error in errors:
                summary.append((f"{label}: {error}" if label and field != "__all__" else str(error), anchor))
    return summary


def _render_case(request, case_id, *, forms=None, status=200, record_view=False, extra=None):
    roles = request.roles
    can_act = roles.can_review
    try:
        cf = casefile.case_file(case_id=case_id, viewer=request.user, can_assign=can_act and roles.is_lead)
    except Case.DoesNotExist:
        raise _not_found(request, case_id) from None
    if record_view:
        case_view_record(case_id=cf.case.pk, user=request.user)
    forms = _forms_for(cf, forms)
    revealed = _revealed(request, cf.case.pk)
    vote_form = forms["vote"]
    selected_outcome = vote_form["outcome"].value()
    seated_or_lead = roles.is_lead or (cf.my_seat is not None and cf.my_seat.state == "claimed")
    next_tier, lower_tiers = None, []
    if cf.stage is not None and cf.is_active:
        version = cf.stage.version
        stages = {s.key: s for s in version.stages.all()}
        next_tier = stages.get(next_tier_key(cf.stage, version.escalation_stage_key))
        lower_tiers = [stages[k] for k in tiers_below(stages, cf.stage.key, version.escalation_stage_key)]
    context = {
        "nav": "work",
        "can_claim": can_act and _may_claim(cf, request.user),
        "claim_refused": CLAIM_MESSAGES["not_eligible"],
        "cf": _present(cf),
        "case": cf.case,
        "state_label": CASE_STATES.get(cf.case.state, cf.case.state),
        "can_act": can_act,
        "is_lead": can_act and roles.is_lead,
        "is_auditor": roles.is_auditor,
        "can_escalate": can_act and cf.is_active and next_tier is not None and seated_or_lead,
        "next_tier": next_tier,
        # the top tier decides or holds: say so instead of offering an escalation that cannot happen
        "at_top_tier": can_act and cf.is_active and cf.stage.kind != "approval" and next_tier is None
        and seated_or_lead,
        "can_send_back": can_act and cf.is_open and bool(lower_tiers) and seated_or_lead,
        "lower_tiers": lower_tiers,
        "can_note": can_act and cf.review is not None and (roles.is_lead or cf.my_seat is not None),
        "forms": forms,
        "selected_outcome": str(selected_outcome) if selected_outcome else "",
        "selected_policy": str(vote_form["policy"].value() or ""),
        "time_limited": [o for o in cf.outcomes if o.time_limited],
        "media": [(item, item.index in revealed) for item in cf.media],
        # trust (DSA Art. 23): the account's strikes and proposals (two queries; none without an account)
        "standing": account_standing(subject=cf.subject),
        "timeline_limit": casefile.TIMELINE_LIMIT,
        # Errors that belong to no field, shown once at the top (the form itself may no longer be offered).
        "form_errors": [e for form in forms.values() if form.is_bound for e in form.non_field_errors()],
        # Every error of a refused action, summarised at the top where the focus goes (WCAG 3.3.1, 2.4.3),
        # each linking to the panel of its form.
        "error_summary": _error_summary(forms) if status >= 400 else [],
        "page_has_errors": status >= 400,
        # G4 signals: the priority's terms, coordinated reporting, linked accounts, hash-list matches.
        "priority_why": signal_selectors.priority_explanation(cf.case),
        "linked_accounts": signal_selectors.linked_accounts(account_ids=signal_selectors.case_accounts(cf.case)),
        # DSA statements of reasons of the case's decisions (one query); leads see why one is held.
        "statements": case_statements(case_id=cf.case.pk),
        **(extra or {}),
    }
    return render(request, "console/case/page.html", context, status=status)


@require_GET
@console_view()
def case_page(request, case_id):
    """The case page. Any console user may read it (see the module
    docstring); each GET records `case.viewed`."""
    return _render_case(request, case_id, record_view=True)


# ---- acting ----------------------------------------------------------------------

FIELD_MESSAGES = {
    "outcome": gettext_lazy("Choose one of the outcomes this stage allows."),
    "policy": gettext_lazy("Choose the policy your vote rests on."),
    "rationale": gettext_lazy("Give a rationale: every outcome except “No violation”, and every rejection, needs one."),
    "decision": gettext_lazy("Choose approve or reject."),
    "public_explanation": gettext_lazy("This outcome needs a public explanation for the affected user."),
}
CODE_MESSAGES = {
    "not_seated": gettext_lazy("You hold no seat in this stage (any more): claim one first, or your lease expired."),
    "review_closed": gettext_lazy("This stage is closed; your vote was not counted."),
    "not_eligible_to_vote": gettext_lazy("You may not take part in this stage any more (for example, a platform account "
                                         "linked to you is involved in this case); nothing was counted."),
    "vote_final": gettext_lazy("You already voted in this stage, differently; votes are final and yours was not changed."),
    "duration_not_allowed": gettext_lazy("This outcome takes no duration: leave the field empty."),
    "duration_required": gettext_lazy("This outcome is time-limited: give the duration in days."),
    "top_tier": gettext_lazy("This is the top tier: there is nowhere to escalate. Decide the case here, or put it on "
                             "hold."),
    "review_changed": gettext_lazy("The case has moved on since you opened it; nothing was changed. Reload the page."),
    "approval_unavailable": gettext_lazy("A suspension this long needs approval, which this workflow does not have: "
                                         "choose a shorter duration or ask a lead."),
}


def _domain_error(form, exc):
    """Puts a domain error on `form`; returns the HTTP status for it."""
    field = {"approved": "decision"}.get(exc.field, exc.field)
    if field not in form.fields:
        field = None
    if exc.code in CODE_MESSAGES:
        message = CODE_MESSAGES[exc.code]
    elif field in FIELD_MESSAGES:
        message = FIELD_MESSAGES[field]
    else:
        message = domain_message(exc)
    form.add_error(field, message)
    return 400 if isinstance(exc, InvalidVote) and field is not None else 409


def _review_refused(form, *, review_id, case_id, open_only):
    """The status refusing a form that names a review of another case (404)
    or a closed one (409), with the form error; None when it may go on."""
    state = casefile.review_state_in_case(review_id=review_id, case_id=case_id)
    if state is None:
        form.add_error(None, _("This form belongs to another case; nothing was changed. Reload the page."))
        return 404
    if state not in ((ReviewState.OPEN,) if open_only else (ReviewState.OPEN, ReviewState.ON_HOLD)):
        form.add_error(None, _("This stage is closed; nothing was changed."))
        return 409
    return None


def _gone(form):
    form.add_error(None, _("What this form refers to no longer exists; reload the page."))
    return 409


def _done(request, url):
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _case_url(case_id):
    return reverse("console:case", args=[case_id])


def _require_lead(request):
    if not request.roles.is_lead:
        raise PermissionDenied("this action needs a lead (senior moderator or admin)")


THEN_CLAIM_NEXT = "claim-next"


@console_view(require="can_review")
@require_POST
@visible_case_only
def vote(request, case_id):
    """Casts the vote, then lands on the next case: with "then=claim-next" (the
    "Cast vote and claim next" button, Ctrl+Enter) a seat in the next case of
    the same queue, else the next case the voter already holds a seat on,
    else My work."""
    form = VoteForm(request.POST)
    if not form.is_valid():
        return _render_case(request, case_id, forms={"vote": form}, status=400)
    if not casefile.review_is_of_case(review_id=form.cleaned_data["review"], case_id=case_id):
        form.add_error(None, _("This vote form belongs to another case; reload the page."))
        return _render_case(request, case_id, forms={"vote": form}, status=400)
    now = timezone.now()
    try:
        cast = vote_cast(review_id=form.cleaned_data["review"], reviewer=request.user, now=now,
                         **form.vote_arguments())
    except DomainError as exc:
        return _render_case(request, case_id, forms={"vote": form}, status=_domain_error(form, exc))
    except ObjectDoesNotExist:
        return _render_case(request, case_id, forms={"vote": form}, status=_gone(form))
    if cast.cast_at != now:  # vote_cast found this identical vote already cast: a repeated submission
        # A repeat claims nothing more: the first submission already took the next case, if any.
        messages.warning(request, _("You had already cast this vote; it was counted once."))
        return _done(request, _next_held_case_url(request.user, case_id))
    messages.success(request, _("Your vote was recorded."))
    if request.POST.get("then") == THEN_CLAIM_NEXT:
        return _done(request, claim_next_in(request, cast.review.queue))
    return _done(request, _next_held_case_url(request.user, case_id))


def _next_held_case_url(user, case_id):
    """The case page of the claimed seat whose lease runs out first (other than this case), else My work."""
    seat = next((s for s in worklists.claimed_seats(user=user) if s.review.case_id != case_id), None)
    if seat is None:
        return reverse("console:my-work")
    return _case_url(seat.review.case_id)


@console_view(require="can_review")
@require_POST
@visible_case_only
def claim(request, case_id):
    """Takes a free seat in the stage shown on the case page (the `review` it
    showed: a stage that moved on meanwhile is refused, not claimed instead).
    Eligibility is the service's (groups, linked identities, earlier stages,
    restricted queues); the last seat goes to one moderator, the other is told."""
    form = ClaimForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Which stage? The form was incomplete; reload the page."))
        return _render_case(request, case_id, status=400)
    refused = _review_refused(form, review_id=form.cleaned_data["review"], case_id=case_id, open_only=True)
    if refused:
        return _render_case(request, case_id, forms={"claim": form}, status=refused)
    try:
        seat = seat_claim(review_id=form.cleaned_data["review"], moderator=request.user)
    except DomainError as exc:
        form.add_error(None, CLAIM_MESSAGES.get(exc.code) or domain_message(exc))
        return _render_case(request, case_id, forms={"claim": form}, status=409)
    except ObjectDoesNotExist:
        return _render_case(request, case_id, forms={"claim": form}, status=_gone(form))
    messages.success(request, _("You claimed a seat: %(stage)s, lease until %(time)s.") % {
        "stage": seat.review.stage.local_name, "time": timezone.localtime(seat.lease_expires_at).strftime("%H:%M")})
    return _done(request, _case_url(case_id) + "#vote-panel")


CLAIM_MESSAGES = {
    "no_free_seat": gettext_lazy("Someone else took the last free seat of this stage first; you hold no seat here."),
    "not_eligible": gettext_lazy("You may not take a seat in this stage (for example, you reported this case, a "
                                 "platform account linked to you is involved, or you reviewed it in an earlier "
                                 "stage)."),
}


def _reason_action(request, case_id, *, prefix, form_class, call, success):
    form = form_class(request.POST, prefix=prefix)
    if not form.is_valid():
        return _render_case(request, case_id, forms={prefix: form}, status=400)
    try:
        call(form.cleaned_data)
    except DomainError as exc:
        return _render_case(request, case_id, forms={prefix: form}, status=_domain_error(form, exc))
    messages.success(request, success)
    return _done(request, _case_url(case_id))


@console_view(require="can_review")
@require_POST
@visible_case_only
def escalate(request, case_id):
    return _reason_action(
        request, case_id, prefix="escalate", form_class=EscalateForm, success=_("The case was escalated."),
        call=lambda data: case_escalate(case_id=case_id, actor_user=request.user, reason=data["reason"],
                                        from_review_id=data.get("review")))


@console_view(require="can_review")
@require_POST
def send_back(request, case_id):
    """A higher tier sends the case back down with guidance (a note the lower tier sees)."""
    form = SendBackForm(request.POST, prefix="sendback")
    if not form.is_valid():
        return _render_case(request, case_id, forms={"sendback": form}, status=400)
    status = _review_refused(form, review_id=form.cleaned_data["review"], case_id=case_id, open_only=True)
    if status is not None:
        return _render_case(request, case_id, forms={"sendback": form}, status=status)
    try:
        lower = case_send_back(case_id=case_id, actor_user=request.user, guidance=form.cleaned_data["guidance"],
                               to_stage=form.cleaned_data["to_stage"], from_review_id=form.cleaned_data["review"])
    except DomainError as exc:
        return _render_case(request, case_id, forms={"sendback": form}, status=_domain_error(form, exc))
    messages.success(request, _("The case was sent back to %(stage)s with your guidance.") % {
        "stage": lower.stage.name})
    return _done(request, _case_url(case_id))


@console_view(require="can_review")
@require_POST
@visible_case_only
def hold(request, case_id):
    _require_lead(request)
    return _reason_action(
        request, case_id, prefix="hold", form_class=ReasonForm, success=_("The case is on hold."),
        call=lambda data: case_hold(case_id=case_id, lead=request.user, reason=data["reason"]))


@console_view(require="can_review")
@require_POST
@visible_case_only
def resume(request, case_id):
    _require_lead(request)
    return _reason_action(
        request, case_id, prefix="resume", form_class=OptionalReasonForm, success=_("The case was resumed."),
        call=lambda data: case_resume(case_id=case_id, lead=request.user, reason=data["reason"]))


@console_view(require="can_review")
@require_POST
@visible_case_only
def assign(request, case_id):
    _require_lead(request)
    form = AssignForm(request.POST)
    if not form.is_valid():
        return _render_case(request, case_id, forms={"assign": form}, status=400)
    moderator = form.cleaned_data["moderator"]
    refused = _review_refused(form, review_id=form.cleaned_data["review"], case_id=case_id, open_only=True)
    if refused:
        return _render_case(request, case_id, forms={"assign": form}, status=refused)
    if case_access(case_id=case_id, user=moderator) != "visible":
        # Giving a seat would show them a case of a queue restricted away from them.
        form.add_error("moderator", _("This moderator may not see this case's queue."))
        return _render_case(request, case_id, forms={"assign": form}, status=400)
    try:
        seat_assign(review_id=form.cleaned_data["review"], moderator=moderator, lead=request.user)
    except DomainError as exc:
        return _render_case(request, case_id, forms={"assign": form}, status=_domain_error(form, exc))
    except ObjectDoesNotExist:
        return _render_case(request, case_id, forms={"assign": form}, status=_gone(form))
    messages.success(request, _("%(name)s was given a seat.") % {"name": moderator.get_username()})
    return _done(request, _case_url(case_id))


def _seat_action(request, case_id, call, success):
    form = SeatForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Which seat? The form was incomplete; reload the page."))
        return _render_case(request, case_id, status=400)
    if not casefile.seat_is_of_case(seat_id=form.cleaned_data["seat"], case_id=case_id):
        messages.error(request, _("This form belongs to another case; nothing was changed. Reload the page."))
        return _render_case(request, case_id, status=404)
    try:
        result = call(form.cleaned_data["seat"])
    except (DomainError, ObjectDoesNotExist) as exc:
        messages.error(request, CODE_MESSAGES.get(getattr(exc, "code", ""))
                       or (domain_message(exc) if isinstance(exc, DomainError) else _("That seat no longer exists.")))
        return _render_case(request, case_id, status=409)
    messages.success(request, success(result))
    return _done(request, _case_url(case_id))


@console_view(require="can_review")
@require_POST
@visible_case_only
def release(request, case_id):
    return _seat_action(
        request, case_id,
        lambda seat_id: seat_release(seat_id=seat_id, actor_user=request.user, reason="released on the case page"),
        lambda seat: _("You released your seat."))


@console_view(require="can_review")
@require_POST
@visible_case_only
def renew(request, case_id):
    def renewed(expires_at):
        local = timezone.localtime(expires_at)
        return _("Your lease now runs until %(time)s.") % {"time": local.strftime("%H:%M")}

    return _seat_action(request, case_id, lambda seat_id: lease_renew(seat_id=seat_id, moderator=request.user),
                        renewed)


@console_view(require="can_review")
@require_POST
@visible_case_only
def note(request, case_id):
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _render_case(request, case_id, forms={"note": form}, status=400)
    refused = _review_refused(form, review_id=form.cleaned_data["review"], case_id=case_id, open_only=False)
    if refused:
        return _render_case(request, case_id, forms={"note": form}, status=refused)
    try:
        note_add(review_id=form.cleaned_data["review"], author=request.user, text=form.cleaned_data["text"])
    except DomainError as exc:
        return _render_case(request, case_id, forms={"note": form}, status=_domain_error(form, exc))
    except ObjectDoesNotExist:
        return _render_case(request, case_id, forms={"note": form}, status=_gone(form))
    messages.success(request, _("Your note was added."))
    return _done(request, _case_url(case_id))


@console_view()
@require_POST
@visible_case_only
def reveal_media(request, case_id, index):
    """Shows one blurred media item unblurred, on the record
    (`case.media_revealed`). Any console user may (auditors too: looking is
    reading, and the look is audited). htmx swaps just that item; without JS
    the case page reloads with the item revealed (kept in the session)."""
    try:
        media = casefile.case_media(case_id=case_id, viewer=request.user)
    except Case.DoesNotExist:
        raise _not_found(request, case_id) from None
    if index >= len(media):
        raise Http404("no such media item")
    item = media[index]
    case_media_reveal_record(case_id=case_id, user=request.user, index=index, url=item.url)
    _remember_revealed(request, case_id, index)
    if request.htmx:
        return render(request, "console/case/_media_item.html",
                      {"item": item, "is_revealed": True, "case": {"pk": case_id}, "announce": True})
    messages.info(request, _("Media %(n)d is revealed.") % {"n": index + 1})
    return redirect(_case_url(case_id) + f"#media-{index}")
