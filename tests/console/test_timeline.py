"""The case page's timeline reads as people talk: labels instead of audit
keys, names instead of ids and codes, times in the viewer's zone, German in
the German console; unknown keys still shown; a fixed number of queries."""
import re
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

import audit
from audit.context import Actor
from audit.models import AuditEvent
from cases.references import case_reference
from cases.services import case_close, case_view_record
from console.preferences import preference_time_zone_set
from reviews.models import Outcome, Review
from reviews.services import seat_assign, vote_cast

ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
RAW_KEYS = ("queue_id", "lease_expires_at", "workflow_version", "reporter_kind", "due_at", "votes_cast", "trigger",
            "moderator_id", "decision_id", "assigned_by", "subject_id", "report_id")


def _url(case_id):
    return reverse("console:case", args=[case_id])


def _timeline(html):
    return html.split('id="timeline-heading"')[1].split("</section>")[0]


def _entries(timeline):
    return [item for item in timeline.split("<li>")[1:]]


def _field(entry, label):
    """The text shown for `label` in one timeline entry (markup removed)."""
    match = re.search(rf"<dt>{re.escape(label)}</dt><dd>(.*?)</dd>", entry)
    return re.sub(r"<[^>]+>", "", match.group(1)) if match else None


def _text(html):
    """What a reader sees: the markup (and its attributes, such as <time datetime>) removed."""
    return re.sub(r"<[^>]+>", " ", html)


def _entry(timeline, label):
    return next(item for item in _entries(timeline) if f"<strong>{label}</strong>" in item)


def _decided_case(people, file_case, policy_book):
    """A case decided 2 of 3 (remove_content, spam) by mod1 and mod2, seated by a lead."""
    case_id = file_case(text="buy pills")
    review = Review.objects.get(case_id=case_id, state="open")
    lead = User.objects.get(username="senior1")
    remove = Outcome.objects.get(code="remove_content")
    for mod in people["moderators"][:2]:
        seat_assign(review_id=review.pk, moderator=mod, lead=lead)
        vote_cast(review_id=review.pk, reviewer=mod, outcome=remove, policy=policy_book["spam"], rationale="spam")
    return case_id


def test_the_timeline_names_things_and_shows_no_raw_keys_or_iso_times(people, file_case, sign_in, policy_book):
    mod1 = people["moderators"][0]
    User.objects.filter(pk=mod1.pk).update(first_name="Maria", last_name="<b>Muster</b>")
    case_id = _decided_case(people, file_case, policy_book)
    timeline = _timeline(sign_in(people["seniors"][0]).get(_url(case_id)).content.decode())

    assert not ISO.search(_text(timeline)), "an ISO timestamp is shown as data"
    for key in RAW_KEYS:
        assert f"<dt>{key}</dt>" not in timeline, key
    opened = _entry(timeline, "Case opened")
    assert _field(opened, "queue") == "General"
    assert _field(opened, "policy") == "Spam"
    assert _field(opened, "workflow") == "Standard"
    assert _field(opened, "stage") == "Review"
    assert _field(opened, "cause") == "routing of a new case"
    assert _field(opened, "reporter") == "User"
    assert _field(opened, "subject") == "post-1"
    report = AuditEvent.objects.get(stream=f"case:{case_id}", action="case.opened").data["report_id"]
    assert _field(opened, "report") == case_reference(report)
    due = Review.objects.filter(case_id=case_id).order_by("opened_at").first().due_at
    assert _field(opened, "due") == date_format(timezone.localtime(due), "SHORT_DATETIME_FORMAT")

    claimed = [item for item in _entries(timeline) if "<strong>Seat claimed or assigned</strong>" in item]
    # names, not user names alone; escaped, as every name a person typed
    assert any(_field(item, "moderator") == "Maria &lt;b&gt;Muster&lt;/b&gt; (mod1)" for item in claimed)
    assert all(_field(item, "assigned by") == "senior1" for item in claimed)
    assert "<b>Muster</b>" not in timeline
    votes = [item for item in _entries(timeline) if "<strong>Vote cast</strong>" in item]
    assert any("· <span class=\"reported-inline\" dir=\"auto\">Maria &lt;b&gt;Muster&lt;/b&gt; (mod1)</span> ·" in item
               for item in votes)  # the actor, by name

    consensus = _entry(timeline, "Stage reached consensus")
    assert _field(consensus, "outcome") == "Remove content" and _field(consensus, "votes") == "2"
    decision = _entry(timeline, "Decision made")
    assert _field(decision, "kind") == "original decision" and _field(decision, "policy") == "Spam"
    state = _entry(timeline, "Case state changed")
    assert _field(state, "to") == "Decided"


def test_times_are_in_the_viewers_time_zone(people, file_case, sign_in):
    case_id = file_case()
    mod = people["moderators"][0]
    seat_assign(review_id=Review.objects.get(case_id=case_id).pk, moderator=mod,
                lead=User.objects.get(username="senior1"))
    lease = datetime.fromisoformat(AuditEvent.objects.get(stream=f"case:{case_id}", action="review.seat_claimed")
                                   .data["lease_expires_at"])
    shown = {}
    for zone in ("Pacific/Auckland", "America/Los_Angeles"):
        preference_time_zone_set(user=mod, time_zone=zone)
        html = sign_in(mod).get(_url(case_id)).content.decode()
        timeline = _timeline(html)
        assert f"Times in {zone}." in timeline
        with timezone.override(zone):
            expected = date_format(timezone.localtime(lease), "SHORT_DATETIME_FORMAT")
        shown[zone] = _field(_entry(timeline, "Seat claimed or assigned"), "lease until")
        assert shown[zone] == expected
    assert shown["Pacific/Auckland"] != shown["America/Los_Angeles"]


def test_the_german_timeline(people, file_case, sign_in, policy_book):
    case_id = _decided_case(people, file_case, policy_book)
    client = sign_in(people["seniors"][0])
    client.cookies["django_language"] = "de"
    timeline = _timeline(client.get(_url(case_id)).content.decode())
    opened = _entry(timeline, "Fall eröffnet")
    assert _field(opened, "Warteschlange") is not None and _field(opened, "Auslöser") == "Weiterleitung eines neuen Falls"
    assert _field(_entry(timeline, "Stufe hat Konsens erreicht"), "Ergebnis") == "Inhalt entfernen"
    assert "<dt>queue</dt>" not in timeline and "<dt>cause</dt>" not in timeline


def test_unknown_keys_and_unresolvable_ids_are_still_shown(people, file_case, sign_in):
    """Never hide evidence: a key the console does not know is shown under its own name,
    and an id that names nothing any more is shown as recorded."""
    case_id = file_case()
    with transaction.atomic():
        audit.record(stream=f"case:{case_id}", action="case.viewed", actor=Actor.system("quorum"),
                     target_type="case", target_id=case_id,
                     data={"some_new_fact": "kept <i>as is</i>", "queue_id": 987654, "policy": "gone-policy",
                           "moderator": "nobody-by-this-name"})
    timeline = _timeline(sign_in(people["auditor"]).get(_url(case_id)).content.decode())
    entry = next(item for item in _entries(timeline) if "some new fact" in item)
    assert _field(entry, "some new fact") == "kept &lt;i&gt;as is&lt;/i&gt;"
    assert _field(entry, "queue") == "987654" and _field(entry, "policy") == "gone-policy"
    assert _field(entry, "moderator") == "nobody-by-this-name"
    assert "System (Quorum)" in entry


def test_the_previous_case_is_a_linked_short_reference(people, file_case, sign_in, policy_book, system_actor):
    first = _decided_case(people, file_case, policy_book)
    case_close(case_id=first, actor=system_actor, reason="done")
    second = file_case(external_id="post-1")
    assert second != first
    timeline = _timeline(sign_in(people["seniors"][0]).get(_url(second)).content.decode())
    opened = _entry(timeline, "Case opened")
    assert f'<dt>previous case</dt><dd><a href="{_url(first)}">{case_reference(first)}</a></dd>' in opened
    assert str(first) not in _text(timeline)


def _page_queries(client, case_id, django_assert_max_num_queries):
    client.get(_url(case_id))  # warm-up: per-process caches
    with django_assert_max_num_queries(40) as captured:
        assert client.get(_url(case_id)).status_code == 200
    return len(captured.captured_queries)


def test_names_cost_a_fixed_number_of_queries(people, file_case, sign_in, policy_book, django_assert_max_num_queries):
    """Forty viewers, seats and votes resolve to names in as many queries as one viewer does."""
    quiet, busy = (_decided_case(people, file_case, policy_book) for _ in range(2))
    viewers = [User.objects.create_user(f"viewer{i}", first_name=f"V{i}") for i in range(40)]
    for viewer in viewers:
        case_view_record(case_id=busy, user=viewer)
    case_view_record(case_id=quiet, user=viewers[0])
    client = sign_in(people["seniors"][0])
    assert _page_queries(client, quiet, django_assert_max_num_queries) == _page_queries(
        client, busy, django_assert_max_num_queries)
    assert "V39 (viewer39)" in _timeline(client.get(_url(busy)).content.decode())
