"""The one place rules read signal features (reporter reputation, coordinated
reporting, linked accounts, hash-list matches) from the `signals` app:
`signals.features.for_report`, named and typed by `signals.features.FEATURES`.

Only conditions that mention `signals.` pay for them (rules/features.py hands
the engine the groups a condition reads). A backtest reads the snapshots
intake stored per report (`signals.features.from_snapshot`), and today's
values only for reports filed before snapshots existed: docs/rules.md,
"Backtests".
"""

from typing import Any

from signals.features import FEATURES, for_report, from_snapshot

_PROTOTYPES: dict[type, Any] = {bool: False, int: 0, float: 0.0, str: "", list: [""]}

# name -> a value of the type the signal has; used to type-check conditions when a draft is saved.
SIGNAL_SCHEMA: dict[str, Any] = {name: _PROTOTYPES[kind] for name, kind in FEATURES.items()}


def signal_features(*, report_id: Any, case_id: Any) -> dict[str, Any]:
    """The signal features of one report, by name (four queries)."""
    return for_report(report_id)


def snapshot_signal_features(**snapshot: Any) -> dict[str, Any]:
    """The signal features of a report as intake stored them (no query)."""
    return from_snapshot(**snapshot)
