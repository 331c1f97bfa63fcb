class DomainError(Exception):
    """A request that is well-formed but not allowed in the current state.
    Edges turn it into a 409 (or a form error) carrying `code` and the message."""

    code = "conflict"

    def __init__(self, message, *, code=None, field=None):
        super().__init__(message)
        if code:
            self.code = code
        self.field = field


class IdempotencyConflict(DomainError):
    code = "idempotency_key_reused"


class TransitionNotAllowed(DomainError):
    code = "transition_not_allowed"
