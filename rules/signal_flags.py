"""Signal flags that change while a case is open (docs/rules.md, "Flags that
change on an open case"). Intake's signals statement judges every report;
this notices when a report sets or clears "possible coordinated reporting"
on its case, audits the change with the evidence (counts and shares only:
no reporter, identifier or text), and says so to the rules, once per change.

Cost: nothing while the subject's burst peak is below the burst threshold
(a case cannot be flagged without a burst, and the peak never falls while
the case is open); above it, one upsert per report."""

from datetime import datetime
from typing import Any

from django.db import connection

import audit
from audit.context import Actor
from audit.services import case_stream
from signals.brigade import BURST_RATIO

COORDINATED = "coordinated_reporting"
SIGNALS = Actor.system("signals")

# A row comes back when the flag is new (inserted) or changed; none when it is as it was.
_UPSERT = """
INSERT INTO rules_casesignalflags (case_id, coordinated, changed_at) VALUES (%s, %s, %s)
ON CONFLICT (case_id) DO UPDATE SET coordinated = EXCLUDED.coordinated, changed_at = EXCLUDED.changed_at
WHERE rules_casesignalflags.coordinated IS DISTINCT FROM EXCLUDED.coordinated
RETURNING (xmax = 0)
"""


def evidence_of(found: Any) -> dict:
    """What the audit trail keeps of the brigading verdict: counts, shares,
    the tripped signals, score and damping (signals.brigade.verdict)."""
    judged = found.brigade
    return {**judged.evidence, "score": round(judged.score, 3), "damping": round(judged.damping, 3)}


def flag_changes(*, case_id: Any, report_id: Any, found: Any, now: datetime) -> list[str]:
    """The flags this report changed on its case ("coordinated_reporting" set
    or cleared), audited as "case.signal_flag_changed". `found` is what the
    signals statement said about the report (signals.intake.IntakeSignals),
    None on a database without signals. The caller holds the subject lock
    (intake), so reports about one case come here one after the other."""
    if found is None or (found.counters.burst_ratio < BURST_RATIO and not found.brigade.flagged):
        return []
    flagged = bool(found.brigade.flagged)
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [case_id, flagged, now])
        row = cursor.fetchone()
    if row is None or (row[0] and not flagged):
        return []  # unchanged, or first seen unflagged (it was never flagged)
    audit.record(stream=case_stream(case_id), action="case.signal_flag_changed", actor=SIGNALS, target_type="case",
                 target_id=case_id, data={"signal": COORDINATED, "flagged": flagged, "report_id": str(report_id),
                                          "evidence": evidence_of(found)})
    return [COORDINATED]
