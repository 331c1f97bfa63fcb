"""Everything the console's case page reads about one case, in a fixed
number of SQL queries whatever the number of reports, votes, earlier cases
or audit events (about a dozen; see tests/console/test_case_page.py).

Reported content is returned as stored: it is untrusted, and the templates
escape it. What a viewer may see of a blind stage is decided here, so that
no template can show what it should not: while a blind stage is open a
viewer gets their own vote only, the number of votes cast, and vote.cast
audit events without their outcome and policy."""

from dataclasses import dataclass, field, replace
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEvent
from audit.services import case_stream
from cases.models import Case, Policy, Report, Subject, SubjectKind
from cases.priority import REACH_KEYS, reach_of
from cases.visibility import users_who_see_queue, visible_cases

from .models import Decision, Outcome, Review, ReviewNote, ReviewState, Seat, SeatState, Stage, StageKind, Vote
from .timeline import TimelineNames, timeline_names

TIMELINE_LIMIT = 200
RECENT_REPORTS = 5
HISTORY_LIMIT = 20
NOTES_LIMIT = 50
ASSIGNABLE_LIMIT = 200
MAX_MEDIA_HASHES = 10
ACTIVE = (ReviewState.OPEN, ReviewState.ON_HOLD)
# Audit data that would tell a blind reviewer how someone else voted.
_BLIND_VOTE_KEYS = ("outcome", "policy", "approved", "duration_days")


@dataclass(frozen=True)
class MediaItem:
    index: int
    url: str
    mime_type: str = ""
    sha256: str = ""
    as_reported: bool = True  # in the first report's snapshot
    is_latest: bool = False  # in the subject's latest media


@dataclass
class ReviewFile:
    review: Review
    stage: Stage
    is_active: bool
    votes_visible: bool
    seats: list = field(default_factory=list)  # claimed and voted seats
    votes: list = field(default_factory=list)  # the votes this viewer may see
    votes_cast: int = 0


@dataclass
class RelatedCase:
    case: Case
    relation: str  # "same_subject", "author_account", "author_content", "account_content", "same_media"


@dataclass
class CaseFile:
    case: Case
    now: datetime
    reported_text: str
    latest_text: str | None  # only when it differs from the text as reported
    media: list
    reach: object
    author_reach: object
    reach_fields: dict
    first_report: Report | None
    report_groups: list
    top_policy_id: int | None
    recent_reports: list
    reviews: list  # ReviewFile, oldest first
    current: ReviewFile | None  # the active review, else the latest one
    outcomes: list
    policies: list
    my_seat: Seat | None  # the viewer's claimed or voted seat in the current review
    my_vote: Vote | None
    decisions: list
    related: list
    notes: list
    events: list
    events_total: int
    assignable: list
    names: TimelineNames = field(default_factory=TimelineNames)  # what the events' ids and codes stand for
    previous_case_id: object = None  # the previous case about this subject, when the viewer may see it
    # Why the case re-opened after a decision (newest first): [{"at", "reasons": [label, ...]}].
    reopenings: list = field(default_factory=list)

    @property
    def subject(self):
        return self.case.subject

    @property
    def proposals(self):
        """The four-eyes reviews of this case (each a proposal: approved, rejected or awaiting), oldest first."""
        return [rf for rf in self.reviews if rf.stage.kind == StageKind.APPROVAL]

    @property
    def author(self):
        return self.case.subject.author

    @property
    def review(self):
        return self.current.review if self.current else None

    @property
    def stage(self):
        return self.current.stage if self.current else None

    @property
    def is_active(self):
        return bool(self.current and self.current.is_active)

    @property
    def is_open(self):
        return bool(self.current and self.current.review.state == ReviewState.OPEN)

    @property
    def is_approval(self):
        return bool(self.current and self.current.stage.kind == StageKind.APPROVAL)

    @property
    def free_seats(self):
        return self.current.review.free_seats if self.is_open else 0

    @property
    def can_vote(self):
        return bool(self.is_open and self.my_seat is not None and self.my_seat.state == SeatState.CLAIMED)

    @property
    def events_truncated(self):
        return self.events_total > len(self.events)

    @property
    def current_decision(self):
        return next((d for d in self.decisions if d.is_current), None)


def _media_list(snapshot_media, latest_media):
    """The first report's media, then latest media not among them; only
    well-formed entries (a dict with a string url)."""
    items, seen = [], {}
    for source, media in (("reported", snapshot_media), ("latest", latest_media)):
        if not isinstance(media, list):
            continue
        for entry in media:
            if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
                continue
            url = entry["url"]
            if url in seen:
                if source == "latest":
                    i = seen[url]
                    items[i] = replace(items[i], is_latest=True)
                continue
            seen[url] = len(items)
            items.append(MediaItem(
                index=len(items), url=url,
                mime_type=entry["mime_type"] if isinstance(entry.get("mime_type"), str) else "",
                sha256=entry["sha256"] if isinstance(entry.get("sha256"), str) else "",
                as_reported=source == "reported", is_latest=source == "latest",
            ))
    return items


def _snapshot_text(snapshot):
    if isinstance(snapshot, dict) and isinstance(snapshot.get("text"), str):
        return snapshot["text"]
    return None


def _first_report(case_id):
    return (Report.objects.filter(case_id=case_id).select_related("policy").order_by("received_at", "id")
            .only("id", "snapshot", "received_at", "reporter_kind", "policy__code", "policy__name",
                  "policy__name_translations").first())


def review_is_of_case(*, review_id, case_id):
    """Whether `review_id` is a review of `case_id` (one query): a form posted
    to one case's page must not act on another case."""
    return Review.objects.filter(pk=review_id, case_id=case_id).exists()


def review_state_in_case(*, review_id, case_id):
    """The state of review `review_id` if it is a review of `case_id`, else
    None (one query): console actions refuse a review of another case, and
    a closed one."""
    return Review.objects.filter(pk=review_id, case_id=case_id).values_list("state", flat=True).first()


def seat_is_of_case(*, seat_id, case_id):
    """Whether seat `seat_id` is in a review of `case_id` (one query)."""
    return Seat.objects.filter(pk=seat_id, review__case_id=case_id).exists()


def case_media(*, case_id, viewer):
    """The case page's media list (index → item), for revealing one item.
    Two queries. Raises Case.DoesNotExist for a case hidden from `viewer`."""
    case = visible_cases(viewer).select_related("subject").only("id", "subject__latest_media").get(pk=case_id)
    first = _first_report(case_id)
    snapshot = first.snapshot if first else {}
    return _media_list(snapshot.get("media") if isinstance(snapshot, dict) else None, case.subject.latest_media)


def _report_groups(case_id):
    """Reports per policy and reporter kind, counted by the database."""
    rows = (Report.objects.filter(case_id=case_id)
            .values("policy_id", "policy__code", "policy__name", "policy__name_translations", "reporter_kind",
                    "claimed_reporter_kind")
            .annotate(reports=Count("id"),
                      reporters=Count("reporter_external_id", distinct=True, filter=~Q(reporter_external_id="")),
                      anonymous=Count("id", filter=Q(reporter_external_id="")))
            .order_by("policy__code", "reporter_kind", "claimed_reporter_kind"))
    groups = {}
    for row in rows:
        group = groups.setdefault(row["policy_id"], {"policy_id": row["policy_id"], "code": row["policy__code"],
                                                     "name": row["policy__name"],
                                                     "name_translations": row["policy__name_translations"],
                                                     "reports": 0, "kinds": []})
        group["reports"] += row["reports"]
        group["kinds"].append({"kind": row["reporter_kind"], "claimed": row["claimed_reporter_kind"],
                               "reports": row["reports"],
                               "reporters": row["reporters"], "anonymous": row["anonymous"]})
    return sorted(groups.values(), key=lambda g: (-g["reports"], g["code"]))


def _related(case, media, viewer):
    subject = case.subject
    # The related subjects first (each branch an index lookup), then their
    # cases: an OR across the case/subject join would scan both tables.
    condition = Q(pk=subject.pk)
    if subject.author_id:
        condition |= Q(pk=subject.author_id) | Q(author_id=subject.author_id)
    if subject.kind == SubjectKind.ACCOUNT:
        condition |= Q(author_id=subject.pk)
    hashes = sorted({m.sha256.lower() for m in media if m.sha256})[:MAX_MEDIA_HASHES]
    for digest in hashes:
        if connection.vendor == "postgresql":
            # served by subject_latest_media_gin (cases migration 0004)
            condition |= Q(latest_media__contains=[{"sha256": digest}])
        else:  # SQLite (make run) has no JSON containment; a digest is specific enough as text
            condition |= Q(latest_media__icontains=digest)
    subjects = Subject.objects.filter(condition).values("pk")
    current = Decision.objects.filter(case_id=OuterRef("pk"), is_current=True)
    cases = list(
        visible_cases(viewer).filter(subject_id__in=subjects).exclude(pk=case.pk).select_related("subject")
        .annotate(decision_outcome=Subquery(current.values("outcome__name")[:1]),
                  decision_outcome_translations=Subquery(current.values("outcome__name_translations")[:1]),
                  decision_policy=Subquery(current.values("policy__code")[:1]),
                  decision_at=Subquery(current.values("decided_at")[:1]))
        .order_by("-opened_at")[:HISTORY_LIMIT]
    )
    related = []
    for other in cases:
        if other.subject_id == subject.pk:
            relation = "same_subject"
        elif subject.author_id and other.subject_id == subject.author_id:
            relation = "author_account"
        elif subject.author_id and other.subject.author_id == subject.author_id:
            relation = "author_content"
        elif other.subject.author_id == subject.pk:
            relation = "account_content"
        else:
            relation = "same_media"
        related.append(RelatedCase(case=other, relation=relation))
    return related


def _events(case_id, blind_review_id, viewer_id):
    events = list(AuditEvent.objects.filter(stream=case_stream(case_id)).order_by("-seq")[:TIMELINE_LIMIT])
    total = events[0].seq if events else 0  # seqs of a stream run 1..n without gaps
    if blind_review_id is not None:
        for event in events:
            if (event.action == "vote.cast" and event.target_id == str(blind_review_id)
                    and event.actor_id != str(viewer_id)):
                event.data = {k: v for k, v in event.data.items() if k not in _BLIND_VOTE_KEYS}
    return events, total


def case_file(*, case_id, viewer, can_assign=False, now=None):
    """Reads the case page's data for `viewer`. Raises Case.DoesNotExist,
    also for a case in a queue hidden from `viewer` (cases.visibility); the
    earlier and related cases are only those `viewer` may see, and the
    moderators offered for a seat only those who may see this case.

    `can_assign` (the viewer is a lead) adds the moderators who could be
    given a free seat in the open stage. Query count is fixed: it does not
    grow with reports, reporters, votes, seats, related cases or events."""
    now = now or timezone.now()
    case = (visible_cases(viewer).select_related("subject__author", "queue", "source")
            .annotate(previous_visible=Exists(visible_cases(viewer).filter(pk=OuterRef("previous_case_id"))))
            .get(pk=case_id))
    subject = case.subject
    first = _first_report(case.pk)
    snapshot = first.snapshot if first is not None and isinstance(first.snapshot, dict) else {}
    reported_text = _snapshot_text(snapshot)
    if reported_text is None:
        reported_text = subject.latest_text
    latest_text = subject.latest_text if subject.latest_text != reported_text else None
    media = _media_list(snapshot.get("media"), subject.latest_media)
    metadata = subject.metadata if isinstance(subject.metadata, dict) else {}
    author = subject.author
    author_metadata = author.metadata if author is not None and isinstance(author.metadata, dict) else {}

    groups = _report_groups(case.pk)
    recent = list(Report.objects.filter(case_id=case.pk).exclude(description="").select_related("policy")
                  .only("id", "description", "received_at", "reporter_kind", "claimed_reporter_kind", "policy__code",
                        "policy__name", "policy__name_translations")
                  .order_by("-received_at", "-id")[:RECENT_REPORTS])

    reviews = list(Review.objects.filter(case_id=case.pk).select_related(
        "stage__version__workflow", "stage__group", "result_outcome", "result_policy", "proposed_outcome",
        "proposed_policy", "appeal").order_by("opened_at", "id"))
    seats = list(Seat.objects.filter(review__case_id=case.pk, state__in=[SeatState.CLAIMED, SeatState.VOTED])
                 .select_related("moderator", "assigned_by").order_by("claimed_at", "id"))
    votes = list(Vote.objects.filter(review__case_id=case.pk).select_related("reviewer", "outcome", "policy")
                 .order_by("cast_at", "id"))

    files, current, my_seat, my_vote, blind_review_id = [], None, None, None, None
    for review in reviews:
        is_active = review.state in ACTIVE
        visible = not (is_active and review.stage.blind)
        review_votes = [v for v in votes if v.review_id == review.pk]
        rf = ReviewFile(review=review, stage=review.stage, is_active=is_active, votes_visible=visible,
                        seats=[s for s in seats if s.review_id == review.pk],
                        votes=review_votes if visible else [v for v in review_votes if v.reviewer_id == viewer.pk],
                        votes_cast=len(review_votes))
        files.append(rf)
        if is_active:
            current = rf
            if not visible:
                blind_review_id = review.pk
    if current is None and files:
        current = files[-1]
    if current is not None:
        my_seat = next((s for s in current.seats if s.moderator_id == viewer.pk), None)
        my_vote = next((v for v in current.votes if v.reviewer_id == viewer.pk), None)

    outcomes = []
    if current is not None and current.is_active and current.stage.kind != StageKind.APPROVAL:
        outcomes = list(Outcome.objects.filter(
            active=True, pk__in=Stage.allowed_outcomes.through.objects.filter(stage_id=current.stage.pk)
            .values("outcome_id")).order_by("position", "code"))
    policies = list(Policy.objects.filter(active=True).order_by("code").only("id", "code", "name", "name_translations"))

    decisions = list(Decision.objects.filter(case_id=case.pk).select_related("outcome", "policy", "decided_by")
                     .order_by("-decided_at", "-sequence"))
    notes = list(ReviewNote.objects.filter(review__case_id=case.pk).select_related("author")
                 .order_by("-created_at", "-id")[:NOTES_LIMIT])
    events, total = _events(case.pk, blind_review_id, viewer.pk)
    names = timeline_names(
        events=events, case=case, reviews=reviews,
        known_users=[s.moderator for s in seats] + [s.assigned_by for s in seats] + [v.reviewer for v in votes]
        + [d.decided_by for d in decisions] + [n.author for n in notes],
        known_policies=policies + [v.policy for v in votes] + [d.policy for d in decisions],
        known_outcomes=outcomes + [v.outcome for v in votes] + [d.outcome for d in decisions])

    assignable = []
    if can_assign and current is not None and current.review.state == ReviewState.OPEN and current.review.free_seats:
        holders = [s.moderator_id for s in current.seats]
        candidates = users_who_see_queue(get_user_model().objects.filter(is_active=True, groups=current.stage.group_id),
                                         queue_id=case.queue_id)
        assignable = list(candidates.exclude(pk__in=holders).order_by("username").only("id", "username")
                          [:ASSIGNABLE_LIMIT])

    return CaseFile(
        case=case, now=now, reported_text=reported_text, latest_text=latest_text, media=media,
        reach=reach_of(metadata), author_reach=reach_of(author_metadata) if author is not None else None,
        reach_fields={k: metadata[k] for k in REACH_KEYS if k in metadata},
        first_report=first, report_groups=groups, top_policy_id=groups[0]["policy_id"] if groups else None,
        recent_reports=recent, reviews=files, current=current, outcomes=outcomes, policies=policies,
        my_seat=my_seat, my_vote=my_vote, decisions=decisions, related=_related(case, media, viewer), notes=notes,
        events=events, events_total=total, names=names, assignable=assignable,
        previous_case_id=case.previous_case_id if case.previous_visible else None, reopenings=_reopenings(case.pk),
    )


REOPEN_REASON_LABELS = {
    "more_severe": _("a report under a more severe policy"),
    "trusted_flagger": _("a trusted flagger's report"),
    "content_changed": _("the content changed since the decision"),
    "new_reporters": _("enough new reporters within the window"),
}


def _reopenings(case_id):
    """The re-review rounds the re-review rules opened, with their reasons (from the audit trail)."""
    rows = (AuditEvent.objects.filter(stream=case_stream(case_id), action="case.state_changed",
                                      data__trigger="rereview").order_by("-seq").values("created_at", "data")[:20])
    return [{"at": r["created_at"],
             "reasons": [REOPEN_REASON_LABELS.get(code, code) for code in r["data"].get("reasons", [])]}
            for r in rows]
