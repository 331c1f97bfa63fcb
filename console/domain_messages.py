"""Domain errors in the console's language. The domain layers raise English
messages (the REST API shows those, stably); the console translates them here,
at its edge: by the exact message where it is fixed text, else by the error's
code. A message this catalogue does not know is shown as raised (English)."""
from django.utils.translation import gettext_lazy as _

BY_MESSAGE = {
    "only a lead can assign seats": _("Only a lead can assign seats."),
    "every seat in this review is taken": _("Every seat in this review is taken."),
    "only the holder or a lead can release a seat": _("Only the holder of the seat or a lead can release it."),
    "you do not hold this seat any more": _("You do not hold this seat any more."),
    "you already voted in this review; votes are final": _("You already voted in this stage; votes are final."),
    "you hold no seat in this review (claim one first, or your lease expired)":
        _("You hold no seat in this stage (any more): claim one first, or your lease expired."),
    "an escalation needs a reason": _("An escalation needs a reason."),
    "the case has no active review to escalate": _("The case has no active review to escalate."),
    "only a reviewer holding a seat, or a lead, can escalate": _("Only a reviewer holding a seat, or a lead, can escalate."),
    "this workflow has no escalation stage": _("This workflow has no escalation stage."),
    "only a lead can put a case on hold": _("Only a lead can put a case on hold."),
    "a hold needs a reason": _("A hold needs a reason."),
    "only a case under review can be put on hold": _("Only a case under review can be put on hold."),
    "only a lead can resume a case": _("Only a lead can resume a case."),
    "a note needs text": _("A note needs text."),
    "only a reviewer of this review, or a lead, can add notes": _("Only a reviewer of this stage, or a lead, can add notes."),
    "the case is closed; its decision can no longer be appealed here":
        _("The case is closed; its decision can no longer be appealed here."),
    "an appeal of this decision is already open": _("An appeal of this decision is already open."),
}

# not_eligible is left out on purpose: its message names the moderator and the exact reason.
BY_CODE = {
    "review_closed": _("This stage is closed; nothing was changed."),
    "not_seated": _("You hold no seat in this stage (any more): claim one first, or your lease expired."),
    "transition_not_allowed": _("The case’s state does not allow this (any more); reload the page."),
    "conflict": _("Someone changed this case at the same time; reload the page and try again."),
}


def domain_message(exc) -> str:
    """The console-language text for domain error `exc`."""
    text = str(exc)
    if text in BY_MESSAGE:
        return str(BY_MESSAGE[text])
    code = getattr(exc, "code", "")
    if code in BY_CODE:
        return str(BY_CODE[code])
    return text
