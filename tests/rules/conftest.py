import pytest

from audit.context import Actor
from rules import engine
from rules.models import Rule
from rules.services import rule_create, rule_draft_save, rule_mode_set, rule_publish

from ..reviews.conftest import file_report, file_report_plain, source  # noqa: F401  (fixtures)

ADMIN = Actor.system("tests-admin")


@pytest.fixture(autouse=True)
def _fresh_rules_cache():
    engine.invalidate()
    yield
    engine.invalidate()


@pytest.fixture
def make_rule(workflows):
    """Creates a rule with a published version in the given mode."""
    counter = {"n": 0}

    def make(expression, *, effects=(), predicts="remove_content", mode="active", sample_share=0.1, slug=None,
             **extra) -> Rule:
        counter["n"] += 1
        rule = rule_create(slug=slug or f"rule-{counter['n']}", name=f"Rule {counter['n']}", actor=ADMIN)
        draft = rule_draft_save(rule=rule, actor=ADMIN, expression=expression, effects=list(effects),
                                predicts=predicts, sample_share=sample_share, **extra)
        rule_publish(version=draft, actor=ADMIN)
        rule_mode_set(rule=rule, mode=mode, actor=ADMIN)
        engine.invalidate()  # the tests run inside one transaction: on_commit never fires
        return Rule.objects.get(pk=rule.pk)

    return make
