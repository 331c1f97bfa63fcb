"""Moderators' own platform identities: managed in the admin and by a CSV
bulk import (both audited), and checked again when a vote is cast, not only
at claim time."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import Queue, Source
from reviews.errors import NotEligible
from reviews.models import ModeratorIdentity, Outcome, Review, Vote
from reviews.services import claim_next, vote_cast

pytestmark = pytest.mark.django_db


def _csv(tmp_path, text):
    path = tmp_path / "identities.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_admin_adds_and_deletes_identities_on_the_record(admin_client, people, source):
    mod = people["moderators"][0]
    add = admin_client.post(reverse("admin:reviews_moderatoridentity_add"),
                            {"user": mod.pk, "source": source.pk, "external_id": " r1 "})
    assert add.status_code == 302, add.content.decode()[:2000]
    identity = ModeratorIdentity.objects.get()
    assert identity.external_id == "r1"
    changed = AuditEvent.objects.get(action="moderator_identity.changed")
    assert changed.data == {"before": None, "after": "mod1@forum:r1"} and changed.stream == "config"
    assert admin_client.get(reverse("admin:reviews_moderatoridentity_changelist")).status_code == 200
    gone = admin_client.post(reverse("admin:reviews_moderatoridentity_delete", args=[identity.pk]), {"post": "yes"})
    assert gone.status_code == 302 and not ModeratorIdentity.objects.exists()
    assert AuditEvent.objects.get(action="moderator_identity.deleted").data == {"before": "mod1@forum:r1"}


def test_bulk_import_adds_once_and_is_audited(tmp_path, people, source, capsys):
    path = _csv(tmp_path, "username,source,external_id\nmod1,forum,r1\nmod1,forum,alt-9\nmod2,forum,u-2\n")
    call_command("import_moderator_identities", path)
    assert "3 identities added, 0 already present" in capsys.readouterr().out
    call_command("import_moderator_identities", path)  # idempotent
    assert "0 identities added, 3 already present" in capsys.readouterr().out
    assert ModeratorIdentity.objects.count() == 3
    first, second = AuditEvent.objects.filter(action="moderator_identity.imported").order_by("id")
    assert sorted(first.data["added"]) == ["mod1@forum:alt-9", "mod1@forum:r1", "mod2@forum:u-2"]
    assert second.data["added"] == [] and second.data["unchanged"] == 3
    # --replace: the users named lose what the file no longer lists for them
    call_command("import_moderator_identities", _csv(tmp_path, "username,source,external_id\nmod1,forum,r1\n"),
                 "--replace")
    assert set(ModeratorIdentity.objects.values_list("user__username", "external_id")) == {
        ("mod1", "r1"), ("mod2", "u-2")}


@pytest.mark.parametrize("text,fragment", [
    ("username,source,external_id\nmod1,forum,r1\nghost,forum,x\n", "line 3: username: no user 'ghost'"),
    ("username,source,external_id\nmod1,nowhere,r1\n", "line 2: source: no source 'nowhere'"),
    ("username,source,external_id\nmod1,forum,   \n", "line 2: external_id: empty"),
    ("username,source,external_id\nmod1,forum," + "x" * 256 + "\n", "longer than 255"),
    ("user,source,external_id\nmod1,forum,r1\n", "missing: username"),
])
def test_a_bad_file_imports_nothing(tmp_path, people, source, text, fragment):
    with pytest.raises(CommandError) as refused:
        call_command("import_moderator_identities", _csv(tmp_path, text))
    assert fragment in str(refused.value)
    assert not ModeratorIdentity.objects.exists()
    assert not AuditEvent.objects.filter(action="moderator_identity.imported").exists()


def test_not_valid_utf8_is_refused_cleanly(tmp_path, people, source):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"username,source,external_id\nmod1,forum,\xff\xfe\n")
    with pytest.raises(CommandError, match="not a readable UTF-8 CSV"):
        call_command("import_moderator_identities", str(path))


def test_eligibility_is_checked_again_when_the_vote_is_cast(file_report, people, policy_book, source):
    """A moderator claims a case, then is linked to the reporter's account: the vote is refused."""
    case_id = file_report(reporter=("user", "r1"))
    mod = people["moderators"][0]
    seat = claim_next(moderator=mod, queue=Queue.objects.get(slug="general"))
    assert str(seat.review.case_id) == str(case_id)
    ModeratorIdentity.objects.create(user=mod, source=Source.objects.get(name="forum"), external_id="r1")
    with pytest.raises(NotEligible) as refused:
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code="no_violation"),
                  policy=policy_book["spam"])
    assert refused.value.code == "not_eligible_to_vote" and "reported this case" in str(refused.value)
    assert not Vote.objects.exists()
    # the same moderator, once claimed, cannot be removed from the group and still vote
    other = file_report("post-2", reporter=("user", "r2"))
    seat2 = claim_next(moderator=mod, queue=Queue.objects.get(slug="general"))
    assert str(seat2.review.case_id) == str(other)
    mod.groups.clear()
    with pytest.raises(NotEligible):
        vote_cast(review_id=seat2.review_id, reviewer=mod, outcome=Outcome.objects.get(code="no_violation"),
                  policy=policy_book["spam"])
    assert Review.objects.get(pk=seat2.review_id).state == "open"
