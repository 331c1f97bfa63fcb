"""The issue's own attack on a real decision: two moderators vote, the case
is decided; then someone holding the audit key and the owner role changes a
recorded vote and re-chains everything. The anchors catch it. Removing the
decision's event is caught by the completeness check even without anchors."""

import pytest

from audit.anchors import anchor_file_flush, read_anchors
from audit.models import AuditEvent
from audit.services import audit_checkpoint_create, case_stream
from audit.verify import verify_audit
from reviews.models import Decision
from tests.reviews.conftest import file_report, source  # noqa: F401  (fixtures)
from tests.reviews.test_flow import claim_and_vote

from .test_audit_anchors import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def decided(file_report, people, policy_book, tmp_path, settings):  # noqa: F811
    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "anchors.jsonl")
    case_id = file_report()
    claim_and_vote(people["moderators"][:2], case_id, ["remove_content", "remove_content"], policy_book["spam"])
    decision = Decision.objects.get(case_id=case_id)
    audit_checkpoint_create()
    anchor_file_flush()
    assert verify_audit(anchors=read_anchors(settings.AUDIT_ANCHOR_FILE)).ok
    return case_stream(case_id), decision, settings.AUDIT_ANCHOR_FILE


def test_a_key_holder_changing_a_recorded_vote_is_caught_by_the_anchors(decided):
    stream, _decision, anchors = decided
    vote = AuditEvent.objects.filter(stream=stream, action="vote.cast").order_by("seq").first()
    assert vote.data["outcome"] == "remove_content"
    tamper([("UPDATE audit_auditevent SET data = jsonb_set(data, '{outcome}', '\"no_violation\"') WHERE id = %s",
             [vote.pk])])
    assert AuditEvent.objects.get(pk=vote.pk).data["outcome"] == "no_violation"
    assert verify_audit().ok  # what the issue found: consistent, and without anchors undetectable
    result = verify_audit(anchors=read_anchors(anchors))
    assert not result.ok and "differs from its anchor" in str(result.problems[0])


def test_a_decision_whose_event_was_removed_is_caught_by_completeness(decided):
    stream, decision, _anchors = decided
    event = AuditEvent.objects.get(stream=stream, action="decision.made")
    tamper([("DELETE FROM audit_auditevent WHERE id = %s", [event.pk]),
            # Shifted in two steps: one UPDATE moving each row down by one collides with the next row's
            # position whenever the rows are visited out of order (events of one transaction share created_at).
            ("UPDATE audit_auditevent SET seq = seq + 1000000 WHERE stream = %s AND seq > %s", [stream, event.seq]),
            ("UPDATE audit_auditevent SET seq = seq - 1000001 WHERE stream = %s AND seq > 1000000", [stream]),
            ("UPDATE audit_auditcheckpoint SET heads = jsonb_set(heads, ARRAY[%s], "
             "jsonb_build_array((heads -> %s ->> 0)::int - 1, heads -> %s -> 1)) WHERE heads ? %s",
             [stream, stream, stream, stream])])
    problems = [str(p) for p in verify_audit(stop_at_first=False).problems]  # no anchors given at all
    assert problems == [f"(stream '{stream}') decision {decision.pk} exists but has no decision event: "
                        f"it was removed"], problems
