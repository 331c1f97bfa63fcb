"""Extension points for the layers above reviews (the DSA app), which
reviews may not import: a provider of the public reason text, and listeners
that run inside the deciding transaction. Registered from AppConfig.ready.
"""

from collections.abc import Callable

# (policy, outcome, language) -> admin-maintained public reason text, or "".
PublicReasonProvider = Callable[..., str]
_public_reason_provider: PublicReasonProvider | None = None
_decision_listeners: list[Callable] = []


def register_public_reasons(provider: PublicReasonProvider) -> None:
    global _public_reason_provider
    _public_reason_provider = provider


def public_reason(*, policy, outcome, language: str = "en") -> str:
    if _public_reason_provider is None or outcome is None:
        return ""
    return _public_reason_provider(policy=policy, outcome=outcome, language=language)


def register_decision_listener(listener: Callable) -> None:
    """`listener(decision=..., actor=...)` runs inside the transaction that
    records the decision, after its audit event; an exception rolls the
    decision back, so listeners must only fail for real faults."""
    if listener not in _decision_listeners:
        _decision_listeners.append(listener)


def decision_recorded(*, decision, actor) -> None:
    for listener in _decision_listeners:
        listener(decision=decision, actor=actor)
