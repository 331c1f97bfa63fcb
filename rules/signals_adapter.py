"""The one place rules read signal features (reporter reputation, coordinated
reporting, linked accounts, hash-list matches) from the `signals` app built on
another branch. Until it is wired, no signal is present: `signal_features`
returns {} and rules that test `has(signals.x)` see false.

MERGE NOTE (lead): wire `signals.features.for_report(...)` here and list the
names and types it returns in SIGNAL_SCHEMA, so conditions over them pass the
save-time check and the backtest sees them.
"""

from typing import Any

# name -> a value of the type the signal has (bool, int, float or str); used to type-check conditions.
SIGNAL_SCHEMA: dict[str, Any] = {}


def signal_features(*, report_id: Any, case_id: Any) -> dict[str, Any]:
    """The signal features of one report, by name; {} while the signals app is absent."""
    return {}
