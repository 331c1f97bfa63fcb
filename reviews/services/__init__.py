"""The review process as services, one module per topic. Each service runs in
a transaction, locks what it changes (the case's active review row is the
lock for everything that happens in a stage), checks the transition and
eligibility, and records audit events.

This package re-exports every public service, so `from reviews.services
import vote_cast` and `from reviews import services` keep working; new code
may import from the topic module directly.
"""

from ._common import ACTIVE, is_lead
from .appeals import appeal_file
from .configuration import (
    calendar_save,
    outcome_problems,
    outcome_save,
    routing_rule_save,
    sla_policy_save,
    workflow_draft_lock,
    workflow_draft_save,
)
from .decisions import decision_amend_reasons, decision_publish, decision_record, outcome_by_code, statement_of_reasons
from .escalation import case_escalate, case_hold, case_resume, case_send_back, note_add, send_back_targets
from .routing import route_new_case, route_new_cases, sync_priority
from .seats import claim_next, eligibility_problem, lease_renew, seat_assign, seat_release
from .votes import vote_cast

__all__ = [
    "ACTIVE", "appeal_file", "calendar_save", "case_escalate", "case_hold", "case_resume", "case_send_back",
    "claim_next",
    "decision_amend_reasons", "decision_publish", "decision_record", "eligibility_problem", "is_lead", "lease_renew", "note_add",
    "outcome_by_code", "outcome_problems", "outcome_save", "route_new_case", "route_new_cases",
    "routing_rule_save", "seat_assign", "seat_release", "sla_policy_save", "statement_of_reasons",
    "send_back_targets", "sync_priority", "vote_cast", "workflow_draft_lock", "workflow_draft_save",
]
