"""From incident to rule: a draft condition prefilled with what distinguishes
a decided case — its policy, the kind of subject, keywords of the reported
text, the classifier score band and the signals present."""

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction

import audit
from audit.context import Actor
from audit.services import CONFIG_STREAM
from cases.models import Case, Report
from cases.references import case_reference
from reviews.models import Decision

from .models import Rule
from .services import rule_create, rule_draft_save
from .signals_adapter import signal_features

MAX_KEYWORDS = 3
_WORD = re.compile(r"[^\W\d_]{5,30}", re.UNICODE)
# Words that say nothing about a case, in the languages the console speaks.
_COMMON = frozenset("""about after again also because being below could every first other their there these
those under where which while would should please people really thing think aber alles auch dass diese durch
einen einer eines haben hatte immer nicht noch oder schon seine sehr sind ueber unter viele weil werden wieder
wird""".split())


class NotDecided(Exception):
    pass


@dataclass(frozen=True)
class Suggestion:
    expression: str
    predicts: str
    keywords: list[str]
    description: str


def keywords_of(text: str) -> list[str]:
    """The longest distinct uncommon words of `text` (at most MAX_KEYWORDS), lower-cased."""
    words = []
    for word in _WORD.findall(text or ""):
        folded = word.casefold()
        if folded not in _COMMON and folded not in words:
            words.append(folded)
    return sorted(words, key=lambda w: (-len(w), w))[:MAX_KEYWORDS]


def _cel_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def suggestion_for_case(*, case_id: Any) -> Suggestion:
    """The prefilled condition for a decided case (raises NotDecided)."""
    decision = (Decision.objects.filter(case_id=case_id, is_current=True).select_related("outcome", "case__subject")
                .first())
    if decision is None:
        raise NotDecided("only a decided case can become a rule")
    case = decision.case
    first = Report.objects.filter(case_id=case_id).select_related("policy").order_by("received_at", "id").first()
    parts = [f"report.policy == {_cel_string(first.policy.code)}", f"subject.kind == {_cel_string(case.subject.kind)}"]
    keywords = keywords_of(f"{case.subject.latest_text} {first.description}")
    if keywords:
        parts.append(f"contains_any(subject.text + \" \" + report.description, "
                     f"[{', '.join(_cel_string(k) for k in keywords)}])")
    if case.max_classifier_score is not None:
        band = int(case.max_classifier_score * 10) / 10
        parts.append(f"report.classifier_score >= {band:.1f}")
    for name, value in sorted(signal_features(report_id=first.pk, case_id=case_id).items()):
        if isinstance(value, bool) and value:
            parts.append(f"signals.{name}")
    reference = case_reference(case_id)
    return Suggestion(expression=" && ".join(parts), predicts=decision.outcome.code, keywords=keywords,
                      description=f"Made from case {reference} (decided {decision.outcome.code}).")


def rule_from_case(*, case_id: Any, actor: Actor, user=None) -> Rule:
    """Creates a rule (off) with a draft prefilled from a decided case. Audited
    ("rule.draft_saved" with the case it came from)."""
    suggestion = suggestion_for_case(case_id=case_id)
    reference = case_reference(Case.objects.values_list("pk", flat=True).get(pk=case_id))
    base = f"from-{reference}".lower()[:40]
    with transaction.atomic():
        slug, n = base, 1
        while Rule.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        rule = rule_create(slug=slug, name=f"From case {reference}", actor=actor)
        rule_draft_save(rule=rule, actor=actor, user=user, expression=suggestion.expression, effects=[],
                        predicts=suggestion.predicts, description=suggestion.description)
        audit.record(stream=CONFIG_STREAM, action="rule.draft_saved", actor=actor, target_type="rule",
                     target_id=rule.slug, data={"from_case": str(case_id)})
        return rule
