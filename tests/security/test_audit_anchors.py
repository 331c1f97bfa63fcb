"""Attacks on the audit trail by someone who holds every secret the
application holds (the audit key, the owner role) and rewrites history
consistently — events, stream heads, checkpoints, all re-chained under the
key. Without anchors that is undetectable; with the anchors written before
the rewrite (the append-only file, a witness) verify_audit names it. Also:
the same attacks without the key, the owner's wipe, key rotation, the legacy
(unkeyed) trail, and an auditor's offline verification of an export."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.anchors import anchor_file_flush, read_anchors
from audit.hashing import GENESIS, checkpoint_hash, event_hash, hash_of_event
from audit.keys import AuditKeyring, keyring
from audit.models import AuditCheckpoint, AuditEvent, AuditStreamHead
from audit.services import audit_checkpoint_create
from audit.tasks import audit_checkpoint_task
from audit.verify import verify_audit
from tests.audit.conftest import AUDIT_TABLES
from tests.dbroles import as_owner

pytestmark = pytest.mark.django_db


@pytest.fixture
def anchor_file(tmp_path, settings):
    path = tmp_path / "anchors.jsonl"
    settings.AUDIT_ANCHOR_FILE = str(path)
    return path


def file_report(api, report_body, external_id, policy="spam"):
    response = api.post("/api/v1/reports", report_body(external_id=external_id, policy=policy), format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()["case"]["id"]


@pytest.fixture
def trail(api, report_body, anchor_file):
    """Three cases opened through the API, one with four reports; two
    checkpoints, both anchored in the file. Returns the busy case's stream."""
    case = file_report(api, report_body, "post-1")
    for policy in ("hate", "spam", "harassment"):
        assert file_report(api, report_body, "post-1", policy=policy) == case
    assert audit_checkpoint_create().number == 1
    file_report(api, report_body, "post-2")
    file_report(api, report_body, "post-3")
    assert audit_checkpoint_create().number == 2
    assert anchor_file_flush() == 2
    stream = f"case:{case}"
    assert [e.action for e in AuditEvent.objects.filter(stream=stream).order_by("seq")] == [
        "case.opened", "report.filed", "report.filed", "report.filed"]
    assert verify_audit(anchors=read_anchors(anchor_file)).ok
    return stream


# ---- what a key holder with the owner role does ---------------------------------------------------------------


def rechain(cursor, ring=None):
    """Recomputes every stream's links and hashes under the key, moves every
    head, and rewrites and re-chains every checkpoint: the rewrite the issue
    describes, done with the project's own hashing and the real key."""
    ring = ring or keyring()
    new_hash = {}
    for stream in AuditEvent.objects.values_list("stream", flat=True).distinct():
        prev = GENESIS
        for event in AuditEvent.objects.filter(stream=stream).order_by("seq"):
            event.prev_hash = prev
            event.hash = hash_of_event(event, ring)
            cursor.execute("UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE id = %s",
                           [event.prev_hash, event.hash, event.pk])
            new_hash[(stream, event.seq)] = prev = event.hash
        seq = AuditEvent.objects.filter(stream=stream).order_by("-seq").values_list("seq", flat=True).first()
        cursor.execute("UPDATE audit_auditstreamhead SET seq = %s, hash = %s WHERE stream = %s", [seq, prev, stream])
    prev = GENESIS
    for cp in AuditCheckpoint.objects.order_by("number"):
        heads = {s: [q, new_hash.get((s, q), h)] for s, (q, h) in cp.heads.items()}
        digest = checkpoint_hash(number=cp.number, created_at=cp.created_at, heads=heads, prev_hash=prev,
                                 key_id=cp.key_id, keyring=ring)
        cursor.execute("UPDATE audit_auditcheckpoint SET heads = %s::jsonb, prev_hash = %s, hash = %s WHERE id = %s",
                       [json.dumps(heads), prev, digest, cp.pk])
        prev = digest


def tamper(statements, *, rechain_with=None, rechained=True):
    with as_owner() as cursor:
        for table in AUDIT_TABLES:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for sql, params in statements:
            cursor.execute(sql, params)
        if rechained:
            rechain(cursor, rechain_with)
        for table in AUDIT_TABLES:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def problems(anchor_file=None, **kwargs):
    anchors = read_anchors(anchor_file) if anchor_file else []
    return [str(p) for p in verify_audit(stop_at_first=False, anchors=anchors, **kwargs).problems]


def assert_only_the_anchors_catch_it(anchor_file):
    assert problems() == [], "the rewrite was not consistent: this test would prove nothing"
    found = problems(anchor_file)
    assert found and all("differs from its anchor" in p for p in found), found
    return found


def event_at(stream, seq):
    return AuditEvent.objects.get(stream=stream, seq=seq)


def test_key_holder_rewriting_a_recorded_report_is_caught_by_the_anchors(trail, anchor_file):
    victim = event_at(trail, 2)
    assert victim.data["policy"] == "hate"
    tamper([("UPDATE audit_auditevent SET data = jsonb_set(data, '{policy}', '\"spam\"') WHERE id = %s", [victim.pk])])
    assert event_at(trail, 2).data["policy"] == "spam"
    found = assert_only_the_anchors_catch_it(anchor_file)
    assert "checkpoint 1 differs from its anchor" in found[0]


def test_key_holder_removing_an_event_is_caught_by_the_anchors(trail, anchor_file):
    tamper([("DELETE FROM audit_auditevent WHERE stream = %s AND seq = 2", [trail]),
            ("UPDATE audit_auditevent SET seq = seq + 1000000 WHERE stream = %s AND seq > 2", [trail]),  # two steps:
            ("UPDATE audit_auditevent SET seq = seq - 1000001 WHERE stream = %s AND seq > 1000000", [trail]),  # no clash
            ("UPDATE audit_auditcheckpoint SET heads = jsonb_set(heads, ARRAY[%s], "
             "jsonb_build_array((heads -> %s ->> 0)::int - 1, heads -> %s -> 1)) WHERE heads ? %s",
             [trail, trail, trail, trail])])
    assert AuditEvent.objects.filter(stream=trail).count() == 3
    assert_only_the_anchors_catch_it(anchor_file)


def test_key_holder_reordering_events_is_caught_by_the_anchors(trail, anchor_file):
    two, three = event_at(trail, 2), event_at(trail, 3)
    tamper([("UPDATE audit_auditevent SET seq = -1 WHERE id = %s", [two.pk]),
            ("UPDATE audit_auditevent SET seq = 2 WHERE id = %s", [three.pk]),
            ("UPDATE audit_auditevent SET seq = 3 WHERE id = %s", [two.pk])])
    assert event_at(trail, 2).pk == three.pk
    assert_only_the_anchors_catch_it(anchor_file)


def test_key_holder_inserting_an_event_is_caught_by_the_anchors(trail, anchor_file):
    template = event_at(trail, 2)
    tamper([("UPDATE audit_auditevent SET seq = seq + 1000 WHERE stream = %s AND seq >= 2", [trail]),
            ("UPDATE audit_auditevent SET seq = seq - 999 WHERE stream = %s AND seq >= 1002", [trail]),
            ("INSERT INTO audit_auditevent (stream, seq, action, actor_type, actor_id, actor_name, target_type, "
             "target_id, data, request_id, ip, created_at, prev_hash, hash, key_id) VALUES (%s, 2, 'review.note_added', "
             "'user', '1', 'mallory', 'case', %s, '{\"note\": \"looked fine\"}', '', '', %s, '', '', %s)",
             [trail, template.target_id, template.created_at, keyring().current_id]),
            ("UPDATE audit_auditcheckpoint SET heads = jsonb_set(heads, ARRAY[%s], "
             "jsonb_build_array((heads -> %s ->> 0)::int + 1, heads -> %s -> 1)) WHERE heads ? %s",
             [trail, trail, trail, trail])])
    assert AuditEvent.objects.filter(stream=trail).count() == 5
    assert_only_the_anchors_catch_it(anchor_file)


def test_key_holder_rewriting_checkpoints_only_is_caught_by_the_anchors(trail, anchor_file):
    """Re-chaining the checkpoints alone (e.g. to hide a removed stream)."""
    other = AuditEvent.objects.exclude(stream=trail).order_by("stream").values_list("stream", flat=True).first()
    tamper([("DELETE FROM audit_auditevent WHERE stream = %s", [other]),
            ("DELETE FROM audit_auditstreamhead WHERE stream = %s", [other]),
            ("UPDATE audit_auditcheckpoint SET heads = heads - %s", [other])])
    found = problems(anchor_file)
    assert any("differs from its anchor" in p for p in found), found


def test_without_the_key_a_rewrite_cannot_be_rechained(trail, anchor_file):
    wrong = AuditKeyring(current_id=keyring().current_id, secrets={keyring().current_id: b"g" * 40})
    victim = event_at(trail, 2)
    tamper([("UPDATE audit_auditevent SET data = jsonb_set(data, '{policy}', '\"spam\"') WHERE id = %s", [victim.pk])],
           rechain_with=wrong)
    found = problems()  # even with no anchors at all
    assert "checkpoint 1 was altered (hash mismatch)" in found
    assert f"event id={victim.pk} (stream '{trail}' seq 2) content was altered (hash mismatch)" in found


def test_without_the_key_a_legacy_unkeyed_forgery_is_refused(trail, anchor_file):
    """Downgrading to the old unkeyed SHA-256 (computable by anyone) does not help."""
    last = event_at(trail, 4)
    fields = dict(stream=trail, seq=5, action="review.note_added", actor_type="user", actor_id="1",
                  actor_name="mallory", target_type="case", target_id=last.target_id, data={}, request_id="", ip="",
                  created_at=last.created_at, prev_hash=last.hash)
    forged = event_hash(**fields)
    tamper([("INSERT INTO audit_auditevent (stream, seq, action, actor_type, actor_id, actor_name, target_type, "
             "target_id, data, request_id, ip, created_at, prev_hash, hash, key_id) VALUES (%s, 5, %s, 'user', '1', "
             "'mallory', 'case', %s, '{}', '', '', %s, %s, %s, '')",
             [trail, fields["action"], last.target_id, last.created_at, last.hash, forged]),
            ("UPDATE audit_auditstreamhead SET seq = 5, hash = %s WHERE stream = %s", [forged, trail])],
           rechained=False)
    found = problems()
    assert found and "unkeyed (legacy) event after keyed ones" in found[0]


def test_owner_wipe_is_caught_by_completeness_and_the_anchors(trail, anchor_file):
    tamper([("TRUNCATE audit_auditevent, audit_auditcheckpoint, audit_auditstreamhead", [])], rechained=False)
    assert not AuditEvent.objects.exists()
    found = problems(anchor_file)
    assert "checkpoint 1 is anchored" in found[0] and "checkpoint 2 is anchored" in found[1]
    assert sum("exists but its audit stream has no first event" in p for p in found) == 3
    # And the command says so (exit 1), naming the first problem.
    with pytest.raises(CommandError, match="checkpoint 1 is anchored"):
        call_command("verify_audit", "--anchors", str(anchor_file), stdout=StringIO(), stderr=StringIO())


def test_the_anchor_file_is_appended_in_order_once_per_checkpoint(trail, anchor_file, api, report_body, settings):
    settings.AUDIT_CHECKPOINT_EVERY_EVENTS = 1
    lines = anchor_file.read_text().splitlines()
    assert [json.loads(line)["number"] for line in lines] == [1, 2]
    assert anchor_file_flush() == 0  # nothing new: nothing appended
    file_report(api, report_body, "post-4")
    assert audit_checkpoint_task.apply().get() == 3  # the task checkpoints, then appends
    assert [json.loads(line)["number"] for line in anchor_file.read_text().splitlines()] == [1, 2, 3]
    first = json.loads(anchor_file.read_text().splitlines()[0])
    cp = AuditCheckpoint.objects.get(number=1)
    assert first == {"number": 1, "hash": cp.hash, "prev_hash": GENESIS, "key_id": "test1", "streams": len(cp.heads),
                     "created_at": cp.created_at.isoformat(timespec="microseconds")}


def test_a_repeated_identical_anchor_line_is_fine_a_contradicting_one_is_not(trail, anchor_file):
    lines = anchor_file.read_text().splitlines()
    anchor_file.write_text("\n".join(lines + [lines[0]]) + "\n")  # a flush that crashed before its commit
    assert problems(anchor_file) == []
    other = json.loads(lines[1])
    other["hash"] = "f" * 64
    anchor_file.write_text("\n".join(lines + [json.dumps(other)]) + "\n")
    assert any("anchors disagree on checkpoint 2" in p for p in problems(anchor_file))


def test_key_rotation_keeps_old_entries_verifiable(trail, anchor_file, settings, api, report_body):
    old = keyring()
    settings.AUDIT_KEYRING = AuditKeyring(current_id="k2026", secrets={**old.secrets, "k2026": b"n" * 40})
    file_report(api, report_body, "post-1", policy="hate")
    assert audit_checkpoint_create().key_id == "k2026"
    anchor_file_flush()
    assert set(AuditEvent.objects.values_list("key_id", flat=True)) == {"test1", "k2026"}
    assert problems(anchor_file) == []
    only_new = AuditKeyring(current_id="k2026", secrets={"k2026": b"n" * 40})
    found = problems(anchor_file, keys=only_new)
    assert found and "'test1', which the verifier was not given" in found[0]


def test_a_legacy_unkeyed_trail_verifies_once_sealed_and_cannot_be_extended(anchor_file):
    """A trail written before keys existed (key_id ""): the first keyed
    checkpoint records every stream head (the seal); unkeyed events up to it
    verify, an unkeyed event after it is a forgery."""
    from django.utils import timezone

    now, prev = timezone.now(), GENESIS
    for seq in (1, 2):
        fields = dict(stream="case:legacy", seq=seq, action="case.opened" if seq == 1 else "report.filed",
                      actor_type="system", actor_id="", actor_name="old", target_type="case", target_id="legacy",
                      data={"n": seq}, request_id="", ip="", created_at=now, prev_hash=prev)
        prev = event_hash(**fields)
        AuditEvent.objects.create(hash=prev, key_id="", **fields)
    AuditStreamHead.objects.create(stream="case:legacy", seq=2, hash=prev, dirty=False)  # not dirty: still sealed
    seal = audit_checkpoint_create()
    assert seal.key_id == "test1" and seal.heads == {"case:legacy": [2, prev]}
    anchor_file_flush()
    assert problems(anchor_file) == []
    fields = dict(stream="case:legacy", seq=3, action="report.filed", actor_type="system", actor_id="",
                  actor_name="old", target_type="case", target_id="legacy", data={"n": 3}, request_id="", ip="",
                  created_at=now, prev_hash=prev)
    forged = event_hash(**fields)
    AuditEvent.objects.create(hash=forged, key_id="", **fields)
    AuditStreamHead.objects.filter(stream="case:legacy").update(seq=3, hash=forged)
    found = problems(anchor_file)
    assert found and "the first keyed checkpoint did not seal" in found[0]


def test_an_auditor_verifies_an_export_offline_and_catches_the_key_holder(trail, anchor_file, tmp_path,
                                                                          django_assert_num_queries):
    def export(path, *args):
        with open(path, "w", encoding="utf-8") as handle:
            call_command("export_audit", *args, stdout=handle)
        return str(path)

    def offline(events, checkpoints):
        out, err = StringIO(), StringIO()
        try:
            call_command("verify_audit", "--events", events, "--checkpoints", checkpoints, "--anchors",
                         str(anchor_file), stdout=out, stderr=err)
        except CommandError as exc:
            return False, str(exc)
        return True, out.getvalue()

    events, checkpoints = export(tmp_path / "e.jsonl"), export(tmp_path / "c.jsonl", "--checkpoints")
    ok, text = offline(events, checkpoints)
    streams = AuditEvent.objects.values("stream").distinct().count()
    assert ok and (f"export intact: {AuditEvent.objects.count()} events in {streams} streams, 2 checkpoints, "
                   f"2 anchored (last: 2)") in text, text

    victim = event_at(trail, 2)
    tamper([("UPDATE audit_auditevent SET data = jsonb_set(data, '{policy}', '\"spam\"') WHERE id = %s", [victim.pk])])
    events, checkpoints = export(tmp_path / "e2.jsonl"), export(tmp_path / "c2.jsonl", "--checkpoints")
    ok, text = offline(events, checkpoints)
    assert not ok and "checkpoint 1 differs from its anchor" in text, text
    # Without the database at all.
    from audit.offline import read_checkpoints, read_events, verify_export

    with open(events) as e, open(checkpoints) as c, django_assert_num_queries(0):
        result = verify_export(events=read_events(e), checkpoints=read_checkpoints(c),
                               anchors=read_anchors(anchor_file), keys=keyring())
    assert not result.ok and "differs from its anchor" in str(result.problems[0])


def test_the_console_verification_of_one_case_names_a_key_holders_rewrite(trail, anchor_file, people):
    """Chain and seals are re-chained consistently under the key; the page
    still says the case's checkpoints differ from the anchor file."""
    from django.test import Client
    from django.urls import reverse

    auditor = Client()
    auditor.force_login(people["auditor"])
    case_id = trail.removeprefix("case:")

    def verify():
        return auditor.post(reverse("console:audit-verify", args=[case_id]), HTTP_HX_REQUEST="true").content.decode()

    assert "verify-ok" in verify()
    victim = event_at(trail, 2)
    tamper([("UPDATE audit_auditevent SET data = jsonb_set(data, '{policy}', '\"no_violation\"') WHERE id = %s",
             [victim.pk])])
    html = verify()
    assert "Chain intact" in html  # the rewrite holds up to everything the database alone can show
    assert 'class="verify-broken" role="alert"' in html
    assert "Problem: checkpoint 1 differs from its anchor" in html
