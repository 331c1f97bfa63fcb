"""The decision hook (registered in TrustConfig.ready): what a recorded
decision changes in trust, inside the deciding transaction."""

from audit.context import Actor

from .abuse import reporters_assess
from .strikes import strikes_apply


def on_decision_recorded(*, decision, actor: Actor) -> None:
    strikes_apply(decision=decision, actor=actor)
    reporters_assess(decision=decision, actor=actor)
