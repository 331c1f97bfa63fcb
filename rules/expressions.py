"""Rule conditions in CEL (the Common Expression Language, Rust engine of the
`common-expression-language` package): checked when saved, compiled once,
evaluated per report. Nothing here is Python `eval`: CEL has no attribute
access, no imports, no loops beyond its bounded macros.

A condition is refused when it is too long, nested too deeply (checked before
the parser sees it, so a hostile nesting cannot exhaust its stack), names a
feature or function that does not exist, uses the engine's own unbounded
`matches`, compares values of the wrong types, or does not give a bool. Regular
expressions go through `re_find`, backed by the `regex` package with a length
limit and a time limit per call.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cel
import regex

MAX_EXPRESSION_CHARS = 4000
MAX_NESTING = 24
MAX_PATTERN_CHARS = 300
MAX_KEYWORDS = 200
MAX_TEXT_CHARS = 10_000
REGEX_TIMEOUT_SECONDS = 0.02

# Native CEL functions and operators a condition may use. Anything else
# (including the engine's `matches`, whose patterns escape our limits) is refused.
ALLOWED_BUILTINS = frozenset({
    "_&&_", "_||_", "!_", "_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "_+_", "_-_", "_*_", "_/_", "_%_",
    "-_", "_?_:_", "@in", "_[_]", "size", "contains", "startsWith", "endsWith", "has", "int", "double", "string",
    "exists", "all", "exists_one", "map", "filter", "@not_strictly_false",
})


class ExpressionError(ValueError):
    """A condition that cannot be saved; `problems` names each reason."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class PatternError(ValueError):
    pass


@lru_cache(maxsize=2048)
def _compiled_pattern(pattern: str) -> "regex.Pattern[str]":
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"regular expression longer than {MAX_PATTERN_CHARS} characters")
    try:
        return regex.compile(pattern, regex.IGNORECASE)
    except regex.error as exc:
        raise PatternError(f"invalid regular expression {pattern!r}: {exc}") from None


def re_find(text: str, pattern: str) -> bool:
    """Whether `pattern` occurs in `text` (case-insensitive); at most
    MAX_TEXT_CHARS of the text are searched, for at most REGEX_TIMEOUT_SECONDS."""
    if not isinstance(text, str) or not isinstance(pattern, str):
        raise PatternError("re_find takes (string, string)")
    try:
        return _compiled_pattern(pattern).search(text[:MAX_TEXT_CHARS], timeout=REGEX_TIMEOUT_SECONDS) is not None
    except TimeoutError:
        raise PatternError(f"regular expression {pattern!r} took longer than {REGEX_TIMEOUT_SECONDS} s") from None


def contains_any(text: str, keywords: list) -> bool:
    """Whether any keyword occurs in `text`, ignoring case."""
    if not isinstance(text, str) or not isinstance(keywords, list) or len(keywords) > MAX_KEYWORDS:
        raise PatternError(f"contains_any takes (string, list of at most {MAX_KEYWORDS} strings)")
    folded = text[:MAX_TEXT_CHARS].casefold()
    return any(isinstance(k, str) and k and k.casefold() in folded for k in keywords)


def lower(text: str) -> str:
    if not isinstance(text, str):
        raise PatternError("lower takes a string")
    return text.casefold()


FUNCTIONS: dict[str, Callable[..., Any]] = {"re_find": re_find, "contains_any": contains_any, "lower": lower}


def nesting_depth(expression: str) -> int:
    """The deepest bracket nesting outside string literals."""
    depth = deepest = 0
    quote = None
    escaped = False
    for ch in expression:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest


def _unary_depth(expression: str) -> int:
    """Longest run of prefix operators (`!!!!x`, `----1`), which nest without brackets."""
    run = longest = 0
    for ch in expression:
        if ch in "!-":
            run += 1
            longest = max(longest, run)
        elif not ch.isspace():
            run = 0
    return longest


@dataclass(frozen=True)
class Compiled:
    expression: str
    program: Any  # cel.Program
    # The feature groups the condition reads: only these are handed to the engine (converting a
    # group into CEL values is most of the cost of an evaluation).
    groups: frozenset = frozenset()

    def matches(self, context: Any) -> bool:
        """True/False; raises on an evaluation error (a regex timeout, a type error)."""
        result = self.program.execute(context)
        if not isinstance(result, bool):
            raise TypeError(f"condition gave {type(result).__name__}, not bool")
        return result


def compile_condition(expression: str, *, schema: Mapping[str, Mapping[str, Any]],
                      prototypes: list[Mapping[str, Any]]) -> Compiled:
    """Checks and compiles a condition. `schema` maps each top-level feature
    group to its fields; `prototypes` are feature sets of the right types
    (one where text features are empty and numbers zero, one where they are
    filled) on which the condition is trial-run to find type errors and bad
    regular expressions. Raises ExpressionError naming every problem found."""
    if not isinstance(expression, str) or not expression.strip():
        raise ExpressionError(["the condition is empty"])
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ExpressionError([f"the condition is {len(expression)} characters long; at most {MAX_EXPRESSION_CHARS}"])
    if "\x00" in expression:
        raise ExpressionError(["the condition contains a NUL character"])
    depth = max(nesting_depth(expression), _unary_depth(expression))
    if depth > MAX_NESTING:
        raise ExpressionError([f"the condition nests {depth} levels deep; at most {MAX_NESTING}"])
    try:
        program = cel.compile(expression)
    except (ValueError, RuntimeError) as exc:
        raise ExpressionError([f"syntax error: {_first_line(exc)}"]) from None
    problems = []
    known_groups = set(schema)
    for name in program.variables():
        if name not in known_groups and not _is_macro_variable(expression, name):
            problems.append(f"unknown feature {name!r} (known: {', '.join(sorted(known_groups))})")
    for name in program.functions():
        if name == "matches":
            problems.append("use re_find(text, pattern) for regular expressions; `matches` is not time-limited")
        elif name not in ALLOWED_BUILTINS and name not in FUNCTIONS:
            problems.append(f"unknown function {name!r}")
    if problems:
        raise ExpressionError(problems)
    compiled = Compiled(expression=expression, program=program, groups=frozenset(program.variables()) & known_groups)
    for proto in prototypes:
        try:
            compiled.matches(context_for(proto))
        except KeyError as exc:
            problems.append(f"unknown field {exc.args[0]!r}: {_field_hint(schema)}")
        except PatternError as exc:
            problems.append(str(exc))
        except TypeError as exc:
            problems.append(f"type error: {_first_line(exc)}")
        except Exception as exc:  # the engine's own evaluation errors, and our functions' errors through it
            message = str(exc)
            if "PatternError: " in message:
                problems.append(message.split("PatternError: ", 1)[1].split(". Check function", 1)[0])
            else:
                problems.append(f"evaluation error: {_first_line(exc)}")
        if problems:
            raise ExpressionError(list(dict.fromkeys(problems)))
    return compiled


def context_for(features: Mapping[str, Any], groups: frozenset | None = None) -> Any:
    """An evaluation context with the feature groups named (all when None)."""
    if groups is None:
        return cel.Context(variables=dict(features), functions=FUNCTIONS)
    return cel.Context(variables={g: features[g] for g in groups if g in features}, functions=FUNCTIONS)


def _is_macro_variable(expression: str, name: str) -> bool:
    # Names bound by a comprehension (`list.exists(k, ...)`) are listed as variables by the engine.
    return regex.search(r"\.\s*(exists|all|exists_one|map|filter)\s*\(\s*" + regex.escape(name) + r"\s*,",
                        expression) is not None


def _field_hint(schema: Mapping[str, Mapping[str, Any]]) -> str:
    return "; ".join(f"{group}: {', '.join(sorted(fields))}" for group, fields in sorted(schema.items()) if fields)


def _first_line(exc: BaseException) -> str:
    """The engine's message up to its first sentence (its advice that follows is long)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else exc.__class__.__name__
    return first.split(". ", 1)[0][:300]
