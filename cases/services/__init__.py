"""Writes about subjects, reports and cases. Every function here runs in a
transaction, locks what it changes and records an audit event.

- `intake`: filing reports (one path for a single report and a batch);
- `lifecycle`: case state changes outside intake;
- `configuration`: policies, queues, re-review rules, sources (admin saves);
- `records`: console reads that are themselves on the record.
"""

from .configuration import (
    field_changes,
    policy_save,
    queue_save,
    rereview_rule_delete,
    rereview_rule_save,
    source_get_or_create,
)
from .intake import (
    EFFECT_JOINED,
    EFFECT_OPENED,
    EFFECT_POST_DECISION,
    EFFECT_REOPENED,
    EFFECT_REROUTED,
    NO_HOOKS,
    FileResult,
    GuardTripped,
    IntakeGuard,
    IntakeHooks,
    ReportInput,
    ReportVerdict,
    SubjectInput,
    replay_or_conflict,
    report_file,
    reports_file_batch,
    upsert_subjects,
)
from .lifecycle import case_change_state, case_close
from .records import case_access_denied_record, case_media_reveal_record, case_view_record

__all__ = [
    "EFFECT_JOINED", "EFFECT_OPENED", "EFFECT_POST_DECISION", "EFFECT_REOPENED", "EFFECT_REROUTED", "NO_HOOKS",
    "FileResult", "GuardTripped", "IntakeGuard", "IntakeHooks",
    "ReportInput", "ReportVerdict", "SubjectInput", "case_access_denied_record", "case_change_state",
    "case_close", "case_media_reveal_record", "case_view_record", "field_changes", "policy_save", "queue_save",
    "replay_or_conflict", "report_file", "reports_file_batch", "rereview_rule_delete", "rereview_rule_save",
    "source_get_or_create", "upsert_subjects",
]
