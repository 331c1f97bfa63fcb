"""Hooks the layers above run when something happens in reviews.

`reviews` cannot import the apps above it (trust, integrations). An app
registers a callable from its `AppConfig.ready`; `decision_record` calls
every registered hook inside the deciding transaction, after the decision
and its audit event are written, so a hook's writes commit or roll back with
the decision. Hooks must be idempotent (a decision is recorded once, but a
hook may be re-run by hand).
"""

from collections.abc import Callable

_DECISION_HOOKS: list[Callable] = []


def register_decision_hook(hook: Callable) -> None:
    """`hook(*, decision, actor)` runs after every recorded decision."""
    if hook not in _DECISION_HOOKS:
        _DECISION_HOOKS.append(hook)


def run_decision_hooks(*, decision, actor) -> None:
    for hook in list(_DECISION_HOOKS):
        hook(decision=decision, actor=actor)
