"""DSA statements of reasons on the case page: the preview before a vote
(from the vote form as filled in), and a lead's correction or rebuild of a
statement (dsa.services, audited)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cases.errors import DomainError
from dsa.models import Statement
from dsa.selectors import statement_preview
from dsa.services import statement_correct, statement_rebuild

from ..decorators import console_view
from ..forms import StatementCorrectionForm, VoteForm
from .case import _case_url, _done, _render_case, _require_lead, visible_case_only


@console_view(require="can_review")
@require_POST
@visible_case_only
def preview(request, case_id):
    """The statement the vote form's outcome and policy would produce now; the form keeps what was typed."""
    form = VoteForm(request.POST)
    if not form.is_valid() or not form.cleaned_data.get("outcome"):
        form.add_error("outcome", _("Choose an outcome (and a policy) to preview its statement of reasons."))
        return _render_case(request, case_id, forms={"vote": form}, status=400)
    data = form.cleaned_data
    payload, errors = statement_preview(case_id=case_id, outcome=data["outcome"], policy=data.get("policy"),
                                        duration_days=data.get("duration_days"),
                                        public_explanation=data.get("public_explanation") or "", now=timezone.now())
    return _render_case(request, case_id, forms={"vote": form},
                        extra={"preview": {"payload": payload, "errors": errors, "outcome": data["outcome"]}})


def _statement_of_case(form, case_id):
    statement = Statement.objects.filter(pk=form.cleaned_data["statement"], case_id=case_id).first()
    if statement is None:
        raise Http404("no such statement on this case")
    return statement


def _lead_statement_action(request, case_id, call):
    """Runs `call(statement, form)` for a lead on a statement of this case;
    None (nothing to do) or the statement after the change."""
    _require_lead(request)
    form = StatementCorrectionForm(request.POST, prefix="correct")
    if not form.is_valid():
        return _render_case(request, case_id, forms={"correct": form}, status=400)
    statement = _statement_of_case(form, case_id)
    try:
        result = call(statement, form)
    except (DomainError, ValidationError) as exc:
        form.add_error(None, str(exc))
        return _render_case(request, case_id, forms={"correct": form}, status=409)
    if result is None:
        messages.info(request, _("Nothing was changed in the statement of reasons."))
    elif result.state == "published":
        messages.success(request, _("The statement of reasons is published."))
    else:
        messages.warning(request, _("The statement of reasons still does not validate; it stays held."))
    return _done(request, _case_url(case_id))


@console_view(require="can_review")
@require_POST
@visible_case_only
def correct(request, case_id):
    def call(statement, form):
        changes = form.changes(statement.payload)
        return statement_correct(statement_id=statement.pk, lead=request.user, changes=changes) if changes else None

    return _lead_statement_action(request, case_id, call)


@console_view(require="can_review")
@require_POST
@visible_case_only
def rebuild(request, case_id):
    return _lead_statement_action(
        request, case_id, lambda statement, form: statement_rebuild(statement_id=statement.pk, lead=request.user))
