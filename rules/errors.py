class RuleInvalid(Exception):
    """A rule draft that cannot be saved or published; `problems` maps each
    field (condition, effects, predicts, ...) to its reasons."""

    def __init__(self, problems: dict[str, list[str]]):
        super().__init__("; ".join(f"{field}: {reason}" for field, reasons in problems.items() for reason in reasons))
        self.problems = problems


class RuleNotAllowed(Exception):
    """A forbidden transition (publishing a retired version, editing a published one)."""
