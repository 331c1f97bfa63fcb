"""Linked accounts (keyed identifier hashes), ban evasion, hash lists with PDQ, retention."""

import logging
from datetime import timedelta

import numpy as np
import pdqhash
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from cases.models import Case
from signals import features
from signals.models import IdentifierLink, PdqBand
from signals.selectors import case_accounts, case_signals, linked_accounts
from signals.services import signals_retention_sweep

pytestmark = pytest.mark.django_db
RAW_EMAIL = "Victim.Raw.Address@example.org"


def test_a_banned_account_returning_under_a_new_id_with_the_same_device_is_flagged(file, decide):
    old = file("acct-old", subject_kind="account", signals={"subject": {"device": "dev-7f3a", "email": "a@b.example"}})
    decide(old.case_id, "suspend_account", duration_days=7)
    plain = file("acct-unrelated", subject_kind="account", signals={"subject": {"device": "dev-other"}})
    back = file("acct-new", subject_kind="account", signals={"subject": {"device": "dev-7f3a"}})
    case = Case.objects.get(pk=back.case_id)
    found = case_signals(case_id=case.pk, subject_id=case.subject_id)
    assert found.evasion and found.linked_sanctioned[0]["via"] == "device"
    assert found.linked_sanctioned[0]["outcome"] == "suspend_account"
    assert case.priority == Case.objects.get(pk=plain.case_id).priority + 100
    linked = linked_accounts(account_ids=case_accounts(case))
    assert [(x["external_id"], x["shared"], x["sanctions"][0]["outcome"]) for x in linked] == [
        ("acct-old", ["device"], "suspend_account")]
    assert features.for_case(case.pk)["ban_evasion_flagged"] is True
    assert features.for_case(plain.case_id)["linked_banned_accounts"] == 0


def test_the_author_of_content_is_linked_too(file, decide):
    old = file("acct-x", subject_kind="account", signals={"subject": {"phone": "+49 170 1234567"}})
    decide(old.case_id, "suspend_account", duration_days=3)
    post = file("post-by-new", author="acct-y", signals={"author": {"phone": "+491701234567"}})
    assert features.for_case(post.case_id)["ban_evasion_flagged"] is True


def test_a_raw_email_never_reaches_the_database_logs_or_audit(api, caplog):
    caplog.set_level(logging.DEBUG)
    response = api.post("/api/v1/reports", {
        "subject": {"kind": "account", "external_id": "acct-mail"}, "policy": "spam",
        "reporter": {"kind": "user", "external_id": "r1"}, "signals": {"subject": {"email": RAW_EMAIL}},
    }, format="json", HTTP_IDEMPOTENCY_KEY="mail-1")
    assert response.status_code == 201, response.content
    assert IdentifierLink.objects.filter(kind="email").count() == 1
    needle = "raw.address"
    with connection.cursor() as cursor:
        # Every table, partitioned ones through their parent (which reads all their partitions).
        cursor.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition")
        tables = [row[0] for row in cursor.fetchall()]
        hits = []
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{table}" t WHERE lower(t::text) LIKE %s', [f"%{needle}%"])
            if cursor.fetchone()[0]:
                hits.append(table)
    assert hits == []
    assert needle not in caplog.text.lower()
    assert not any(needle in str(e.data).lower() for e in AuditEvent.objects.all())


@pytest.mark.parametrize("signals, field", [
    ({"subject": {"email": "no-at-sign"}}, "email"),
    ({"subject": {"ip_prefix": "300.1.1.1"}}, "ip_prefix"),
    ({"media": [{"pdq": "xyz"}]}, "pdq"),
    ({"media": [{}]}, "media"),
    ({"subject": {"shoe_size": "44"}}, "shoe_size"),
])
def test_bad_signals_are_refused_naming_the_field(api, signals, field):
    response = api.post("/api/v1/reports", {
        "subject": {"kind": "account", "external_id": "acct-bad"}, "policy": "spam", "signals": signals,
    }, format="json")
    assert response.status_code == 400
    assert field in response.content.decode() and "no-at-sign" not in response.content.decode()
    assert not Case.objects.exists()


def test_identifiers_of_content_subjects_are_refused(api):
    response = api.post("/api/v1/reports", {
        "subject": {"kind": "content", "external_id": "c1"}, "policy": "spam",
        "signals": {"subject": {"device": "d"}}}, format="json")
    assert response.status_code == 400 and "signals.author" in response.content.decode()


def _image(seed, noise=0):
    rng = np.random.default_rng(seed)
    base = np.kron(rng.integers(0, 255, (8, 8, 3)), np.ones((32, 32, 1))).astype(np.int16)
    if noise:
        base += np.random.default_rng(seed + 1000).integers(-noise, noise + 1, base.shape).astype(np.int16)
    return np.clip(base, 0, 255).astype(np.uint8)


def _pdq(image):
    bits, _quality = pdqhash.compute(image)
    return "".join(f"{int(''.join(str(int(b)) for b in bits[i:i + 4]), 2):x}" for i in range(0, 256, 4))


def test_a_pdq_near_duplicate_of_listed_media_matches_and_other_media_do_not(file, tmp_path):
    listed = _pdq(_image(1))
    sha = "ab" * 32
    (tmp_path / "list.csv").write_text(f"# shared list\npdq,{listed},known-1\nsha256,{sha},known-2\n")
    call_command("load_hash_list", "known-abuse", str(tmp_path / "list.csv"), "--pdq-threshold", "31")
    assert PdqBand.objects.count() == 16
    near = _pdq(_image(1, noise=12))
    other = _pdq(_image(2))
    from signals.pdq import distance

    assert 0 < distance(listed, near) <= 31 < distance(listed, other)
    hit = file("img-1", signals={"media": [{"pdq": near}]})
    miss = file("img-2", signals={"media": [{"pdq": other}]})
    exact = file("img-3", media=[{"url": "https://cdn.example/x.png", "sha256": sha}])
    assert features.for_case(hit.case_id)["hash_list_matches"] == 1
    assert features.for_case(hit.case_id)["hash_list_names"] == ["known-abuse"]
    assert features.for_case(miss.case_id)["hash_list_matches"] == 0
    assert features.for_case(exact.case_id)["hash_list_matches"] == 1
    assert AuditEvent.objects.filter(action="signals.hash_list_changed", data__added=2).exists()


def test_a_bad_hash_list_line_loads_nothing(tmp_path):
    from django.core.management.base import CommandError

    (tmp_path / "bad.csv").write_text(f"sha256,{'a' * 64}\nsha256,zz\n")
    with pytest.raises(CommandError, match="line 2"):
        call_command("load_hash_list", "bad", str(tmp_path / "bad.csv"))
    from signals.models import HashList

    assert not HashList.objects.filter(name="bad").exists()


def test_the_retention_sweep_deletes_expired_links_only(file):
    file("acct-ret", subject_kind="account", signals={"subject": {"device": "d1", "email": "x@y.example"}})
    IdentifierLink.objects.filter(kind="device").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert signals_retention_sweep() == 1
    assert list(IdentifierLink.objects.values_list("kind", flat=True)) == ["email"]
    assert AuditEvent.objects.filter(action="signals.retention_swept", data__deleted=1).exists()


def test_an_overturned_ban_lifts_the_sanction_and_moves_the_reporters_credit(file, decide, people, policy_book,
                                                                              system_actor):
    from cases.models import Queue
    from reviews.models import Outcome
    from reviews.services import appeal_file, claim_next, vote_cast
    from signals.models import AccountSanction, ReporterReputation

    old = file("acct-appeals", subject_kind="account", reporter="accuser",
               signals={"subject": {"device": "dev-appeal"}})
    decide(old.case_id, "suspend_account", duration_days=7)
    assert AccountSanction.objects.filter(case_id=old.case_id).exists()
    record = ReporterReputation.objects.get(reporter_key="accuser")
    assert (record.upheld, record.rejected) == (1.0, 0.0)
    appeal_file(case_id=old.case_id, appellant_kind="affected_user", statement="not me", actor=system_actor)
    for mod in people["moderators"][2:4]:
        seat = claim_next(moderator=mod, queue=Queue.objects.get(slug="general"))
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code="no_violation"),
                  policy=policy_book["spam"], rationale="overturned")
    record.refresh_from_db()
    assert (record.upheld, record.rejected) == (0.0, 1.0)  # moved, not added
    assert not AccountSanction.objects.filter(case_id=old.case_id).exists()
    back = file("acct-appeals-2", subject_kind="account", signals={"subject": {"device": "dev-appeal"}})
    assert features.for_case(back.case_id)["ban_evasion_flagged"] is False
