"""Checks the layers above cases add to its models without cases importing
them (the DSA app validates `Policy.dsa_category` against the Commission's
vocabulary). Registered from AppConfig.ready; run by the models' clean(),
which the admin and the services (full_clean) call."""

from collections.abc import Callable

# check(policy) -> {field name: [reasons]}
PolicyCheck = Callable[..., dict[str, list[str]]]
_policy_checks: list[PolicyCheck] = []


def register_policy_check(check: PolicyCheck) -> None:
    if check not in _policy_checks:
        _policy_checks.append(check)


def policy_problems(policy) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for check in _policy_checks:
        for field, reasons in check(policy).items():
            problems.setdefault(field, []).extend(reasons)
    return problems
