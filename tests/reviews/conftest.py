import pytest

from cases.models import Source
from reviews.intake import report_intake


@pytest.fixture
def source(db):
    return Source.objects.get_or_create(name="forum")[0]


@pytest.fixture
def file_report(workflows, source, system_actor, policy_book):
    """Files a report through the real intake use case; returns the case id."""
    from cases.services import ReportInput, SubjectInput

    def file(external_id="post-1", policy="spam", reporter=("user", "r1"), kind="content", author=None,
             jurisdiction=(), score=None):
        item = ReportInput(
            subject=SubjectInput(kind=kind, external_id=external_id, fields={"latest_text": "text"},
                                 author_external_id=author, as_received={"kind": kind, "external_id": external_id}),
            policy=policy_book[policy], reporter_kind=reporter[0], reporter_external_id=reporter[1],
            jurisdiction=tuple(jurisdiction), classifier_score=score,
        )
        return report_intake(source=source, api_client_id=None, actor=system_actor, item=item).case_id

    return file


@pytest.fixture
def file_report_plain(source, system_actor, policy_book):
    """Files a report with whatever routing rules the test set up."""
    from cases.services import ReportInput, SubjectInput

    counter = {"n": 0}

    def file(policy="spam"):
        counter["n"] += 1
        ext = f"plain-{counter['n']}"
        item = ReportInput(subject=SubjectInput(kind="content", external_id=ext, as_received={}),
                           policy=policy_book[policy], reporter_kind="user")
        return report_intake(source=source, api_client_id=None, actor=system_actor, item=item).case_id

    return file
