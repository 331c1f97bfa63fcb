from cases.errors import DomainError


class NotEligible(DomainError):
    code = "not_eligible"


class ReviewClosed(DomainError):
    code = "review_closed"


class NotSeated(DomainError):
    code = "not_seated"


class InvalidVote(DomainError):
    code = "invalid_vote"


class WorkflowInvalid(DomainError):
    code = "workflow_invalid"

    def __init__(self, problems):
        super().__init__("; ".join(problems))
        self.problems = problems


class AppealRefused(DomainError):
    code = "appeal_refused"


class NotAllowed(DomainError):
    code = "not_allowed"


class ReviewTransitionNotAllowed(DomainError):
    code = "review_transition_not_allowed"


class SeatTransitionNotAllowed(DomainError):
    code = "seat_transition_not_allowed"


class AppealTransitionNotAllowed(DomainError):
    code = "appeal_transition_not_allowed"
