"""Work lists: My work (queues, counts, claimed seats, claim next), a
queue's cases, the seniors' escalations and approvals, and appeals. Reads
come from reviews.worklists; the one write (claim next) from
reviews.services."""
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from cases.errors import DomainError
from cases.references import case_reference
from cases.translations import translated_name
from reviews import services, worklists

from ..decorators import console_view
from ..domain_messages import domain_message
from ..work_forms import QueueFilterForm


@require_safe
@console_view()
def my_work(request):
    roles = request.roles
    queues, counted_at = worklists.queue_overview(user=request.user, read_everything=roles.can_read_everything)
    claimable = [row for row in queues if row.workable and roles.can_review]
    # `n` claims from the first queue with work waiting for the user (else the first they work).
    shortcut = next((row for row in claimable if row.mine_waiting), claimable[0] if claimable else None)
    return render(request, "console/work/my_work.html", {
        "nav": "work",
        "queues": queues,
        "counted_at": counted_at,
        "can_claim": roles.can_review,
        "shortcut_queue": shortcut.queue.pk if shortcut else None,
        "seats": worklists.claimed_seats(user=request.user),
    })


@require_POST
@console_view(require="can_review")
def claim_next(request, queue):
    queue_obj = worklists.queue_by_slug(queue, user=request.user)
    if queue_obj is None:
        raise Http404(_("No such queue"))
    return redirect(claim_next_in(request, queue_obj))


def claim_next_in(request, queue) -> str:
    """Claims the next case of `queue` for the user (reviews.services.claim_next), with a message;
    returns the URL to land on: the claimed case's page, else My work."""
    try:
        seat = services.claim_next(moderator=request.user, queue=queue)
    except DomainError as exc:
        messages.error(request, _("Could not claim: %(reason)s") % {"reason": domain_message(exc)})
        return reverse("console:my-work")
    if seat is None:
        messages.info(request, _("No case is waiting in %(queue)s for you") % {"queue": translated_name(queue)})
        return reverse("console:my-work")
    messages.success(request, _("Claimed: %(stage)s on case %(case)s") % {
        "stage": seat.review.stage.local_name, "case": case_reference(seat.review.case_id)})
    return reverse("console:case", args=[seat.review.case_id])


@require_safe
@console_view()
def queue_list(request, queue):
    queue_obj = worklists.queue_by_slug(queue, user=request.user)
    if queue_obj is None:
        raise Http404(_("No such queue"))
    form = QueueFilterForm(request.GET)
    page, cursor_error, status = None, None, 200
    if form.is_valid():
        try:
            page = worklists.queue_cases(queue=queue_obj, cursor=form.cleaned_data.get("cursor") or None,
                                         **form.filters())
        except worklists.InvalidCursor:
            cursor_error = _("This page link is not valid: it was changed or belongs to another sort order. "
                             "Start again from the first page.")
            status = 400
    else:
        status = 400
        if "cursor" in form.errors:
            cursor_error = _("This page link is not valid: it was changed or belongs to another sort order. "
                             "Start again from the first page.")
    params = request.GET.copy()
    params.pop("cursor", None)
    base = reverse("console:queue", args=[queue_obj.slug])
    first_url = f"{base}?{params.urlencode()}" if params else base
    next_url = None
    if page is not None and page.next_cursor:
        params["cursor"] = page.next_cursor
        next_url = f"{base}?{params.urlencode()}"
    context = {
        "nav": "work",
        "queue": queue_obj,
        "form": form,
        "page": page,
        "cursor_error": cursor_error,
        "first_url": first_url,
        "next_url": next_url,
        "paged": bool(request.GET.get("cursor")),
    }
    return render(request, "console/work/queue.html", context, status=status)


def _reason_text(reason):
    """The predecessor's close reason as shown: known codes translated, a
    person's escalation reason kept as their (untrusted, escaped) words."""
    reason = reason or ""
    if reason.startswith("escalated: "):
        return _("Escalated"), reason.removeprefix("escalated: ")
    known = {
        "split": _("Reviewers disagreed (split)"),
        "SLA breached": _("Deadline missed"),
        "rejected": _("Approval rejected"),
        "consensus": _("Reviewers agreed; the outcome needs approval"),
        "approved": _("Approved"),
    }
    if reason in known:
        return known[reason], ""
    return (_("Other"), reason) if reason else ("", "")


@require_safe
@console_view(require="can_read_everything")
def escalations(request):
    reviews = worklists.senior_reviews(user=request.user)
    for review in reviews:
        review.reason_label, review.reason_detail = _reason_text(review.reason)
    return render(request, "console/work/escalations.html", {
        "nav": "escalations",
        "reviews": reviews,
        "limit": worklists.SENIOR_LIST_LIMIT,
        "is_lead": request.roles.is_lead,
    })


@require_safe
@console_view(require="can_read_everything")
def appeals(request):
    return render(request, "console/work/appeals.html", {
        "nav": "appeals",
        "open_appeals": worklists.open_appeals(user=request.user),
        "decided_appeals": worklists.decided_appeals(user=request.user),
        "decided_limit": worklists.DECIDED_APPEALS_LIMIT,
    })
