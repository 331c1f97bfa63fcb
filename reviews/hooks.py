"""Extension points for the layers above reviews (dsa, trust), which reviews
may not import: a provider of the public reason text, and decision listeners.

An app registers from its `AppConfig.ready`. `decision_record` calls every
listener inside the deciding transaction, after the decision and its audit
event are written, so a listener's writes commit or roll back with the
decision; an exception rolls the decision back, so listeners must only fail
for real faults. Listeners must be idempotent (a decision is recorded once,
but a listener may be re-run by hand). Today: dsa (the statement of reasons)
and trust (strikes, DSA Art. 23; notice accuracy). A publication hold lets
dsa keep a decision out of the feed while its statement does not validate.
"""

from collections.abc import Callable

# (policy, outcome, language) -> admin-maintained public reason text, or "".
PublicReasonProvider = Callable[..., str]
_public_reason_provider: PublicReasonProvider | None = None
_decision_listeners: list[Callable] = []
_publication_holds: list[Callable[..., bool]] = []


def register_public_reasons(provider: PublicReasonProvider) -> None:
    global _public_reason_provider
    _public_reason_provider = provider


def public_reason(*, policy, outcome, language: str = "en") -> str:
    if _public_reason_provider is None or outcome is None:
        return ""
    return _public_reason_provider(policy=policy, outcome=outcome, language=language)


def register_decision_listener(listener: Callable) -> None:
    """`listener(*, decision, actor)` runs after every recorded decision, in its transaction."""
    if listener not in _decision_listeners:
        _decision_listeners.append(listener)


def decision_recorded(*, decision, actor) -> None:
    for listener in list(_decision_listeners):
        listener(decision=decision, actor=actor)


def register_publication_hold(check: Callable[..., bool]) -> None:
    """`check(*, decision) -> bool`: True while the decision may not be
    published (decision feed, webhooks, reporters' outcome notices). Asked
    after the listeners ran, in the deciding transaction; the layer that
    holds a decision publishes it later with
    `reviews.services.decisions.decision_publish`."""
    if check not in _publication_holds:
        _publication_holds.append(check)


def publication_held(*, decision) -> bool:
    return any(check(decision=decision) for check in list(_publication_holds))
