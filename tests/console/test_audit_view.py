"""The audit view: search by case, actor, action and time, keyset pages,
form errors instead of crashes, escaped hostile data, and verifying one
case's chain from the page (intact, and after tampering behind the
append-only trigger's back)."""

import json
import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from audit.context import Actor
from audit.hashing import event_hash
from audit.models import AuditEvent, AuditStreamHead
from audit.services import audit_checkpoint_create, audit_record, case_stream
from audit.verify import verify_stream
from cases.models import Queue
from reviews.services import claim_next
from tests.dbroles import as_owner

from .hostile_corpus import XSS

URL = reverse("console:audit")


def verify_url(case_id):
    return reverse("console:audit-verify", args=[case_id])


@contextmanager
def tampering():
    """A cursor with the audit tables' append-only triggers disabled, as
    tests/audit/conftest.py does: what someone with database access could do."""
    tables = ("audit_auditevent", "audit_auditcheckpoint")
    with as_owner() as cursor:
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield cursor
        finally:
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def record(stream, n=1, *, action="case.state_changed", actor=None, data=None):
    for i in range(n):
        with transaction.atomic():
            audit_record(stream=stream, action=action, actor=actor or Actor.system("tests"), target_type="case",
                         target_id="1", data={"i": i} if data is None else data)


def rows(html):
    return re.findall(r"<tr>\s*<td><time.*?</tr>", html, re.S)


@pytest.fixture
def auditor_client(people, sign_in):
    return sign_in(people["auditor"])


@pytest.fixture
def case_id(file_case, people):
    """A case with a few events: opened, then two moderators claim seats."""
    case_id = file_case(external_id="audited")
    for mod in people["moderators"][:2]:
        claim_next(moderator=mod, queue=Queue.objects.get(slug="general"))
    assert AuditEvent.objects.filter(stream=case_stream(case_id)).count() >= 4
    return case_id


# ---- access ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who, status", [("auditor", 200), ("seniors", 200), ("admin", 200), ("moderators", 403)])
def test_auditors_and_leads_only(people, sign_in, who, status):
    user = people[who][0] if isinstance(people[who], list) else people[who]
    client = sign_in(user)
    assert client.get(URL).status_code == status
    if status == 403:
        assert client.post(verify_url("01900000-0000-7000-8000-000000000000")).status_code == 403


def test_verify_needs_post(auditor_client, case_id):
    assert auditor_client.get(verify_url(case_id)).status_code == 405


# ---- search ----------------------------------------------------------------------------------------------------


def test_search_by_case_shows_its_stream_newest_first(auditor_client, case_id, file_case):
    file_case(external_id="other")
    response = auditor_client.get(URL, {"case": str(case_id)})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-current="page">Audit<' in html
    stream = case_stream(case_id)
    expected = list(AuditEvent.objects.filter(stream=stream).order_by("-pk").values_list("seq", flat=True))
    found = rows(html)
    assert len(found) == len(expected) > 0
    assert all(f'<span class="stream">{stream}</span>' in row for row in found)
    seqs = [int(re.search(r'<td class="num">(\d+)</td>', row).group(1)) for row in found]
    assert seqs == expected
    assert "Case opened" in html  # the action's label
    assert "Verify this case’s chain" in html and 'data-once' in html


def test_search_by_short_reference(auditor_client, case_id, file_case, people, sign_in):
    from django.contrib.auth.models import Group

    from cases.models import Case, Queue
    from cases.references import case_reference

    by_id = rows(auditor_client.get(URL, {"case": str(case_id)}).content.decode())
    response = auditor_client.get(URL, {"case": case_reference(case_id).lower()})
    assert response.status_code == 200 and str(response.context["case_id"]) == str(case_id)
    assert rows(response.content.decode()) == by_id
    # a reference nobody has, or nonsense: a form error naming the field, never a 500
    for text, reason in (("0000-0000-0000", "No case has this reference"), ("nonsense", "Enter a case reference")):
        response = auditor_client.get(URL, {"case": text})
        assert response.status_code == 400 and reason in str(response.context["form"].errors["case"])
    # a case in a queue restricted away from the user is a case that does not exist
    hidden = file_case(external_id="hidden")
    secret = Queue.objects.create(slug="secret", name="Secret")
    secret.restricted_to.add(Group.objects.create(name="secret-team"))
    Case.objects.filter(pk=hidden).update(queue=secret)
    response = sign_in(people["seniors"][0]).get(URL, {"case": case_reference(hidden)})
    assert response.status_code == 400 and "No case has this reference" in str(response.context["form"].errors["case"])


def test_search_by_actor_action_and_time(auditor_client, db):
    now = timezone.now()
    record("case:a", 2, actor=Actor.system("sweeper"))
    record("case:b", 1, actor=Actor.system("alice"), action="case.escalated")
    record("case:c", 1, actor=Actor.system("alice"))
    assert len(rows(auditor_client.get(URL, {"actor": "alice"}).content.decode())) == 2
    html = auditor_client.get(URL, {"actor": "alice", "action": "case.escalated"}).content.decode()
    assert len(rows(html)) == 1 and "case:b" in html and "Case escalated" in html
    fmt = "%Y-%m-%dT%H:%M"
    later = (now + timedelta(hours=1)).strftime(fmt)
    earlier = (now - timedelta(hours=1)).strftime(fmt)
    # Everything was recorded just now: the 4 events above and the fixtures' users, groups and sign-in.
    in_window = len(rows(auditor_client.get(URL, {"since": earlier, "until": later}).content.decode()))
    assert in_window == AuditEvent.objects.count() >= 4
    assert len(rows(auditor_client.get(URL, {"since": later}).content.decode())) == 0
    empty = auditor_client.get(URL, {"until": earlier}).content.decode()
    assert rows(empty) == [] and "No audit events match this search." in empty


def test_keyset_pages_of_fifty(auditor_client, db, django_assert_max_num_queries):
    record("case:many", 120)
    ids = list(AuditEvent.objects.filter(actor_name="tests").order_by("-pk").values_list("pk", flat=True))
    seen = []
    pages = 0
    url = URL + "?actor=tests"
    while url:
        with django_assert_max_num_queries(4):  # session, user, groups, one page of events
            html = auditor_client.get(url).content.decode()
        found = rows(html)
        pages += 1
        seen += [int(re.search(r'<td class="num">(\d+)</td>', row).group(1)) for row in found]
        assert len(found) == (50 if pages < 3 else 20)
        match = re.search(r'<a href="([^"]+)" rel="next">', html)
        url = match.group(1).replace("&amp;", "&") if match else None
        if pages > 1:
            assert "Newest events" in html
    assert pages == 3
    assert seen == list(range(120, 0, -1))
    assert len(ids) == 120


@pytest.mark.parametrize("params", [
    {"case": "not-a-uuid"},
    {"action": "no.such_action"},
    {"since": "yesterday"},
    {"since": "2026-01-02T10:00", "until": "2026-01-01T10:00"},
    {"before": "-5"},
    {"before": "99999999999999999999999"},
    {"actor": "x" * 201},
])
def test_invalid_input_is_a_form_error(auditor_client, params):
    response = auditor_client.get(URL, params)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "Events, newest first" not in html


@pytest.mark.parametrize("name, payload", XSS)
def test_hostile_event_data_is_escaped(auditor_client, db, name, payload):
    clean = payload.replace("\x00", "")  # jsonb cannot hold NUL
    record("case:hostile", data={"text": clean}, actor=Actor.system(clean[:200]))
    html = auditor_client.get(URL, {"case": "", "actor": clean[:200]}).content.decode()
    assert len(rows(html)) == 1
    assert clean not in html  # every payload holds a character that escaping changes
    assert "<img src=x" not in html and "<svg onload" not in html and "<iframe" not in html
    compact = json.dumps({"text": clean}, ensure_ascii=False, separators=(",", ":"))
    assert f'<code class="reported-text audit-data" dir="auto">{escape(compact)}</code>' in html


# ---- verify one case's chain -----------------------------------------------------------------------------------


def test_verify_intact_chain_plain_post_redirects_with_a_message(auditor_client, case_id):
    stream = case_stream(case_id)
    count = AuditEvent.objects.filter(stream=stream).count()
    response = auditor_client.post(verify_url(case_id))
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?case={case_id}"
    html = auditor_client.get(response["Location"]).content.decode()
    # Shown in #flash at load; console.js moves it into the (then announced) #live region.
    live = re.search(r'<div id="flash".*?</div>', html, re.S).group(0)
    assert "Verified: nothing wrong found in what was checked." in live
    assert f"Chain intact: {count} events, gapless from seq 1" in live
    assert f"ending at the stream head (seq {count})" in live


def checked_and_not(html):
    def items(css):
        block = re.search(rf'<ul class="{css}">(.*?)</ul>', html, re.S)
        return re.findall(r"<li>(.*?)</li>", block.group(1), re.S) if block else []
    return items("verify-checked"), items("verify-not-checked")


def test_verify_with_htmx_says_what_was_checked_and_what_was_not(auditor_client, case_id, settings):
    settings.AUDIT_ANCHOR_FILE = ""
    settings.AUDIT_WITNESS_URL = ""
    stream = case_stream(case_id)
    count = AuditEvent.objects.filter(stream=stream).count()
    response = auditor_client.post(verify_url(case_id), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    # The result takes the focus when it is swapped in (data-focus-on-load, console.js).
    assert html.startswith('<p class="verify-ok" tabindex="-1" data-focus-on-load>Verified:')
    assert "<html" not in html
    checked, not_checked = checked_and_not(html)
    assert any(f"Chain intact: {count} events" in line for line in checked)
    assert any(f"of each of the {count} keyed events verifies under its audit key (test1)" in line for line in checked)
    # No checkpoint yet: nothing seals the case, and no anchor of any kind is configured. The page says so.
    assert any("No checkpoint has recorded this case yet" in line for line in not_checked)
    assert any(f"{count} events after seq 0 are not yet recorded by any checkpoint" in line for line in not_checked)
    assert any("No anchor file is configured" in line for line in not_checked)
    assert any("No external witness is configured" in line for line in not_checked)
    assert any("checked by verify_audit" in line for line in not_checked)

    audit_checkpoint_create()
    record(stream)  # after the checkpoint: not sealed yet
    checked, not_checked = checked_and_not(auditor_client.post(verify_url(case_id), HTTP_HX_REQUEST="true")
                                           .content.decode())
    assert any("1 checkpoint recorded this case, the last (number 1," in line and f"up to seq {count}" in line
               for line in checked)
    assert any(f"1 event after seq {count} is not yet recorded by any checkpoint" in line for line in not_checked)


def test_verify_compares_the_seals_with_the_anchor_file(auditor_client, case_id, settings, tmp_path):
    from audit.anchors import anchor_file_flush

    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "anchors.jsonl")
    audit_checkpoint_create()
    checked, not_checked = checked_and_not(auditor_client.post(verify_url(case_id), HTTP_HX_REQUEST="true")
                                           .content.decode())
    assert any("The anchor file holds none of these checkpoints yet." in line for line in not_checked)
    assert anchor_file_flush() == 1
    html = auditor_client.post(verify_url(case_id), HTTP_HX_REQUEST="true").content.decode()
    checked, _ = checked_and_not(html)
    assert any("The anchor file holds these checkpoints up to number 1, with the same hashes." in line
               for line in checked)
    assert "verify-ok" in html


def test_a_checkpoint_altered_without_the_key_is_named(auditor_client, case_id):
    checkpoint = audit_checkpoint_create()
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditcheckpoint SET created_at = created_at - interval '1 day' WHERE number = %s",
                       [checkpoint.number])
    html = auditor_client.post(verify_url(case_id), HTTP_HX_REQUEST="true").content.decode()
    assert 'class="verify-broken" role="alert"' in html
    assert f"Problem: checkpoint {checkpoint.number} was altered (hash mismatch)" in html


def test_altered_event_is_found_and_announced_as_an_alert(auditor_client, case_id):
    stream = case_stream(case_id)
    target = AuditEvent.objects.get(stream=stream, seq=2)
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET data = %s WHERE id = %s", ['{"forged": true}', target.pk])
    response = auditor_client.post(verify_url(case_id), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "Chain broken at seq 2: content was altered (hash mismatch)" in html
    assert f"(event id {target.pk})" in html
    # and the plain form says the same through the messages framework
    follow = auditor_client.post(verify_url(case_id), follow=True).content.decode()
    assert "message-error" in follow and "Chain broken at seq 2" in follow


def test_removed_last_event_is_found(case_id):
    stream = case_stream(case_id)
    last = AuditEvent.objects.filter(stream=stream).order_by("-seq").first()
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [last.pk])
    result = verify_stream(stream)
    assert not result.ok and result.problem.seq == last.seq
    assert f"the stream ends at seq {last.seq - 1}" in result.problem.message


def test_removed_middle_event_and_relinked_chain_are_found(case_id):
    stream = case_stream(case_id)
    events = list(AuditEvent.objects.filter(stream=stream).order_by("seq"))
    assert len(events) >= 3
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    result = verify_stream(stream)
    assert result.problem.seq == 3 and "event(s) before it were removed" in result.problem.message


def test_rewritten_tail_that_matches_the_head_is_caught_by_the_checkpoint(case_id, db):
    """Someone rewrites the last event with a valid hash and moves the head to
    it: the chain and head agree, but the checkpoint remembers the old hash."""
    stream = case_stream(case_id)
    audit_checkpoint_create()
    last = AuditEvent.objects.filter(stream=stream).order_by("-seq").first()
    fields = dict(stream=last.stream, seq=last.seq, action=last.action, actor_type=last.actor_type,
                  actor_id=last.actor_id, actor_name="mallory", target_type=last.target_type,
                  target_id=last.target_id, data=last.data, request_id=last.request_id, ip=last.ip,
                  created_at=last.created_at, prev_hash=last.prev_hash, key_id=last.key_id)
    forged = event_hash(**fields)
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'mallory', hash = %s WHERE id = %s", [forged, last.pk])
    AuditStreamHead.objects.filter(stream=stream).update(hash=forged)
    result = verify_stream(stream)
    assert not result.ok and result.problem.seq == last.seq
    assert "differs from the hash recorded in checkpoint 1" in result.problem.message


def test_events_appended_outside_audit_record_are_found(case_id):
    stream = case_stream(case_id)
    last = AuditEvent.objects.filter(stream=stream).order_by("-seq").first()
    fields = dict(stream=stream, seq=last.seq + 1, action="case.state_changed", actor_type="user", actor_id="1",
                  actor_name="mallory", target_type="case", target_id="1", data={}, request_id="", ip="",
                  created_at=last.created_at, prev_hash=last.hash, key_id=last.key_id)
    AuditEvent.objects.bulk_create([AuditEvent(**fields, hash=event_hash(**fields))])
    result = verify_stream(stream)
    assert result.problem.seq == last.seq + 1 and "appended after the stream head" in result.problem.message


def test_unknown_case_has_nothing_to_verify(auditor_client, db):
    response = auditor_client.post(verify_url("01900000-0000-7000-8000-000000000000"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Chain could not be verified: no audit events were recorded for this stream" in response.content.decode()
    assert "verify-broken" in response.content.decode()


def test_verify_reads_a_fixed_number_of_queries(case_id, django_assert_max_num_queries):
    stream = case_stream(case_id)
    record(stream, 40)
    audit_checkpoint_create()
    with django_assert_max_num_queries(3):  # checkpoint entries, head, events (one cursor)
        result = verify_stream(stream)
    assert result.ok and result.events == AuditEvent.objects.filter(stream=stream).count()
    assert result.checkpoints == 1 and result.head_seq == result.events
