import pytest
from django.utils import timezone

from cases.models import Queue
from cases.services import ReportInput, SubjectInput
from reviews.intake import report_intake
from reviews.models import Decision, Outcome
from reviews.services import claim_next, vote_cast
from signals.models import ReporterReputation


@pytest.fixture
def source(db):
    from cases.models import Source

    return Source.objects.get_or_create(name="forum")[0]


@pytest.fixture
def file(workflows, source, system_actor, policy_book):
    """Files one report through the real intake use case; returns the FileResult."""

    def file(external_id="post-1", *, reporter="r1", kind="user", subject_kind="content", author=None,
             description="", policy="spam", signals=None, media=None, api_client_id=None):
        fields = {"latest_text": "text"}
        if media is not None:
            fields["latest_media"] = media
        item = ReportInput(
            subject=SubjectInput(kind=subject_kind, external_id=external_id, fields=fields,
                                 author_external_id=author, as_received={"kind": subject_kind, "external_id": external_id}),
            policy=policy_book[policy], reporter_kind=kind, reporter_external_id=reporter, description=description,
            signals=signals or {},
        )
        return report_intake(source=source, api_client_id=api_client_id, actor=system_actor, item=item)

    return file


@pytest.fixture
def reputable(source):
    """Gives reporters a record of decided reports (upheld, rejected)."""

    def give(names, upheld=8.0, rejected=0.0, kind="user"):
        ReporterReputation.objects.bulk_create([
            ReporterReputation(source=source, reporter_kind=kind, reporter_key=name, upheld=upheld, rejected=rejected,
                               updated_at=timezone.now()) for name in names])

    return give


@pytest.fixture
def decide(people, policy_book):
    """Decides a case through claims and votes of two moderators (the standard workflow's 2 of 3)."""

    def decide(case_id, code, duration_days=None):
        general = Queue.objects.get(slug="general")
        for mod in people["moderators"][:2]:
            seat = claim_next(moderator=mod, queue=general)
            assert str(seat.review.case_id) == str(case_id)
            vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code=code),
                      policy=policy_book["spam"], rationale=code, duration_days=duration_days)
        return Decision.objects.get(case_id=case_id, is_current=True)

    return decide
