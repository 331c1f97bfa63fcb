"""Why a state changed, as data: the `trigger` field of every state-change
audit event (case.state_changed, review.opened, review.consensus,
review.split, review.approval_rejected, case.escalated, case.sla_breached,
review.seat_released, decision.made, appeal.opened, appeal.decided).

Readers (webhooks, the console, reports) branch on these values, never on
the free-text `reason`, which is for people."""

ROUTING = "routing"  # a new case's first stage
FIRST_CLAIM = "first_claim"  # the first seat taken: open → in_review
CONSENSUS = "consensus"  # M votes agreed
APPROVAL = "approval"  # the four-eyes stage approved
SPLIT = "split"  # agreement became impossible
REJECTION = "rejection"  # the four-eyes stage rejected the proposal
ESCALATION = "escalation"  # a seated reviewer or a lead escalated by hand
SLA_BREACH = "sla_breach"  # a stage's deadline passed
LEAD_HOLD = "lead_hold"
LEAD_RESUME = "lead_resume"
DECISION = "decision"  # a decision was recorded
APPEAL = "appeal"  # an appeal opened, or was decided
LEASE_EXPIRED = "lease_expired"  # a claim's lease ran out
RELEASE = "release"  # a holder or a lead gave a seat back
REVIEW_CLOSED = "review_closed"  # the review ended with seats still claimed
REROUTED = "rerouted"  # a more severe report moved an open case to another workflow (review superseded)
REREVIEW = "rereview"  # the re-review rules re-opened a decided case for a new round
AUTO_CLOSE = "auto_close"  # the closing sweep closed a decided case
SEND_BACK = "send_back"  # a higher tier sent the case back down with guidance
REPROPOSAL = "reproposal"  # an outcome rejected before was proposed again below the tier its rejection went to
RULE = "rule"  # an active rule's effect (rules app): moved to a queue or workflow, held, more reviewers required

ALL = frozenset({ROUTING, FIRST_CLAIM, CONSENSUS, APPROVAL, SPLIT, REJECTION, ESCALATION, SLA_BREACH, LEAD_HOLD,
                 LEAD_RESUME, DECISION, APPEAL, LEASE_EXPIRED, RELEASE, REVIEW_CLOSED, REROUTED, REREVIEW, AUTO_CLOSE,
                 SEND_BACK, REPROPOSAL, RULE})
