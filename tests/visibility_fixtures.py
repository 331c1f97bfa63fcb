"""Shared data for the per-team visibility tests (tests/reviews/test_visibility.py,
tests/console/test_visibility.py): a child-safety queue restricted to a
"child-safety" group, fed by the child_safety policy and reviewed on the
default "Child safety" workflow (2 of 2 seniors, then a senior approval)."""
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group

from cases.models import Queue, Source
from cases.selectors import invalidate_configuration_cache
from cases.services import ReportInput, SubjectInput, queue_save
from reviews.intake import report_intake


@pytest.fixture
def child_safety(people, workflows, policy_book, system_actor):
    """The restricted queue and who is who around it. Two seniors are in the
    "child-safety" group (the workflow needs two reviewers); one senior and
    every plain moderator are not."""
    group = Group.objects.create(name="child-safety")
    members = people["seniors"][1:3]
    for member in members:
        member.groups.add(group)
    queue = queue_save(queue=Queue(slug="child-safety", name="Child safety"), actor=system_actor,
                       policies=[policy_book["child_safety"]], restricted_to=[group])
    invalidate_configuration_cache()
    return SimpleNamespace(group=group, queue=queue, members=members, member=members[0],
                           senior=people["seniors"][0], moderator=people["moderators"][0],
                           auditor=people["auditor"], admin=people["admin"])


@pytest.fixture
def file_any(workflows, system_actor, policy_book):
    """file_any(external_id, policy, author=None, media=()) -> case id, through the real intake."""
    source = Source.objects.get_or_create(name="forum")[0]

    def file(external_id, policy="spam", *, author=None, media=(), text="reported text"):
        fields = {"latest_text": text}
        if media:
            fields["latest_media"] = [dict(m) for m in media]
        item = ReportInput(
            subject=SubjectInput(kind="content", external_id=external_id, fields=fields, author_external_id=author,
                                 as_received={"kind": "content", "external_id": external_id, "text": text,
                                              "media": [dict(m) for m in media]}),
            policy=policy_book[policy], reporter_kind="user", reporter_external_id="r1",
        )
        return report_intake(source=source, api_client_id=None, actor=system_actor, item=item).case_id

    return file
