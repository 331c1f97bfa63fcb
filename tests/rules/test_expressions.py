"""Conditions are checked when saved; hostile ones are refused or time-limited, never run as code."""

import pytest

from rules import expressions
from rules.engine import LoadedRule, compile_rule_condition, evaluate
from rules.expressions import ExpressionError, re_find
from rules.features import prototypes


def problems_of(expression):
    with pytest.raises(ExpressionError) as caught:
        compile_rule_condition(expression)
    return caught.value.problems


def test_a_good_condition_compiles_and_evaluates():
    compiled = compile_rule_condition('report.policy == "spam" && contains_any(subject.text, ["casino"]) '
                                      '&& report.jurisdictions.exists(j, j == "DE")')
    features = prototypes()[0]
    features["report"]["policy"] = "spam"
    features["subject"]["text"] = "Best CASINO bonus"
    features["report"]["jurisdictions"] = ["FR", "DE"]
    assert compiled.matches(expressions.context_for(features)) is True
    features["report"]["jurisdictions"] = ["FR"]
    assert compiled.matches(expressions.context_for(features)) is False


def test_unknown_feature_group_and_field_are_named():
    assert any("unknown feature 'reporter'" in p for p in problems_of('reporter.kind == "user"'))
    assert any("unknown field 'nope'" in p for p in problems_of("report.nope == 1"))


def test_wrong_types_and_non_bool_results_are_refused():
    assert any(p.startswith("type error") for p in problems_of('report.classifier_score > "high"'))
    assert any("not bool" in p for p in problems_of("report.policy"))


def test_syntax_errors_are_refused():
    assert problems_of("report.policy == ")[0].startswith("syntax error")


def test_bad_and_huge_regular_expressions_are_refused_at_save():
    assert any("invalid regular expression" in p for p in problems_of('re_find(report.description, "[")'))
    huge = "a" * (expressions.MAX_PATTERN_CHARS + 1)
    assert any("longer than" in p for p in problems_of(f're_find(report.description, "{huge}")'))


def test_the_engines_unbounded_matches_is_refused():
    assert any("re_find" in p for p in problems_of('report.description.matches("a+")'))


def test_catastrophic_backtracking_is_cut_off_by_the_time_limit():
    with pytest.raises(expressions.PatternError, match="took longer"):
        re_find("a" * 5000 + "!", r"^(a+)+$")


def test_a_timed_out_rule_does_not_match_and_carries_the_error():
    compiled = compile_rule_condition(r're_find(report.description, "^(a|aa)+$")')
    rule = LoadedRule(rule_id=1, slug="slow", version_id=1, number=1, mode="active", condition=compiled, effects=[],
                      sample_share=0.0)
    features = prototypes()[0]
    features["report"]["description"] = "a" * 5000 + "!"
    [verdict] = evaluate([rule], features)
    assert verdict.matched is False
    assert "took longer" in verdict.error


@pytest.mark.parametrize("expression", [
    "(" * 200 + "true" + ")" * 200,
    "[" * 500 + "]" * 500 + " == []",
    "!" * 1000 + "true",
    "-" * 1000 + "1 == 1",
])
def test_deep_nesting_is_refused_before_parsing(expression):
    assert "nests" in problems_of(expression)[0]


@pytest.mark.parametrize("expression", [
    'report.policy.__class__ == "x"',
    'report.__dict__ == {}',
    '__import__("os").system("true")',
    'eval("1") == 1',
    'getattr(report, "policy") == "x"',
    'subject.text.format("x") == "x"',
])
def test_attribute_access_and_python_are_not_reachable(expression):
    assert problems_of(expression)


def test_very_long_conditions_are_refused():
    expression = " || ".join(['report.policy == "spam"'] * 400)
    assert "characters long" in problems_of(expression)[0]


def test_very_long_input_text_is_searched_only_up_to_the_limit():
    text = "x" * expressions.MAX_TEXT_CHARS + "needle"
    assert re_find(text, "needle") is False
    assert expressions.contains_any(text, ["needle"]) is False
    assert re_find("needle" + text, "needle") is True


def test_too_many_keywords_are_refused():
    words = ", ".join(f'"w{i}"' for i in range(expressions.MAX_KEYWORDS + 1))
    assert any("contains_any" in p for p in problems_of(f"contains_any(subject.text, [{words}])"))


def test_the_nesting_scanner_ignores_brackets_in_strings():
    assert expressions.nesting_depth('report.description == "((((((((((((((((((((((((((((((("') == 0
