import pytest
from django.contrib.auth.models import Group, User

from cases.models import Source
from reviews.intake import report_intake
from reviews.workflows import GROUPS, install_default_workflows, invalidate_routing_cache


def _user(name, *groups, **extra):
    user = User.objects.create_user(username=name, password="x-" + name, **extra)
    for g in groups:
        user.groups.add(Group.objects.get_or_create(name=g)[0])
    return user


@pytest.fixture
def people(db):
    for g in GROUPS:
        Group.objects.get_or_create(name=g)
    return {
        "moderators": [_user(f"mod{i}", "moderator") for i in range(1, 6)],
        "seniors": [_user(f"senior{i}", "senior_moderator") for i in range(1, 5)],
        "admin": _user("admin1", "admin", is_staff=True),
        "auditor": _user("auditor1", "auditor"),
        "outsider": _user("outsider"),
    }


@pytest.fixture
def workflows(people, policy_book, system_actor):
    invalidate_routing_cache()
    install_default_workflows(actor=system_actor)
    yield
    invalidate_routing_cache()


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
