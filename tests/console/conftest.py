"""Console fixtures: role users from the shared `people` fixture, signed-in
test clients, and cases filed through the real intake and routed into the
default 2-of-3 blind workflow."""
import pytest
from django.test import Client

from cases.models import Source
from cases.services import ReportInput, SubjectInput
from reviews.intake import report_intake

PASSWORD = "x-{}"  # tests/conftest.py's _user gives every user the password "x-<username>"


@pytest.fixture
def console_source(db):
    return Source.objects.get_or_create(name="forum")[0]


@pytest.fixture
def sign_in(db):
    """sign_in(user) -> a django.test.Client with a session for that user."""

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def file_case(workflows, console_source, system_actor, policy_book):
    """Files one report through the real intake (and routing); returns the case id."""
    counter = {"n": 0}

    def file(external_id=None, policy="spam", text="reported text", media=(), url="", author=None,
             reporter=("user", "r1"), jurisdiction=(), description="", kind="content", score=None, signals=None):
        counter["n"] += 1
        external_id = external_id or f"post-{counter['n']}"
        fields = {"latest_text": text}
        if media:
            fields["latest_media"] = [dict(m) for m in media]
        if url:
            fields["url"] = url
        item = ReportInput(
            subject=SubjectInput(kind=kind, external_id=external_id, fields=fields, author_external_id=author,
                                 as_received={"kind": kind, "external_id": external_id, "text": text,
                                              "media": [dict(m) for m in media], "url": url}),
            policy=policy_book[policy], reporter_kind=reporter[0], reporter_external_id=reporter[1],
            jurisdiction=tuple(jurisdiction), classifier_score=score, description=description, signals=signals or {},
        )
        return report_intake(source=console_source, api_client_id=None, actor=system_actor, item=item).case_id

    return file
