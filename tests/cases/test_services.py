import pytest
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from audit.services import CONFIG_STREAM
from cases.errors import TransitionNotAllowed
from cases.models import Case, CaseState, Policy, Queue, Report, Source
from cases.priority import case_priority
from cases.services import (
    ReportInput,
    SubjectInput,
    case_change_state,
    case_close,
    policy_save,
    queue_save,
    report_file,
)
from cases.states import ALLOWED_TRANSITIONS

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(db):
    return Source.objects.create(name="forum")


def item(policy, external_id="p1", kind="content", reporter=("user", ""), score=None, fields=None, author=None):
    return ReportInput(
        subject=SubjectInput(kind=kind, external_id=external_id, fields=fields or {}, author_external_id=author,
                             as_received={"kind": kind, "external_id": external_id}),
        policy=policy, reporter_kind=reporter[0], reporter_external_id=reporter[1], classifier_score=score,
    )


def file(source, actor, it):
    return report_file(source=source, api_client_id=None, actor=actor, item=it)


def test_first_report_opens_a_case_in_the_queue_of_its_policy(source, system_actor, policy_book):
    spam_queue = Queue.objects.create(slug="spam-team", name="Spam team")
    spam_queue.policies.add(policy_book["spam"])
    from cases.selectors import invalidate_configuration_cache

    invalidate_configuration_cache()
    result = file(source, system_actor, item(policy_book["spam"]))
    assert result.status == 201
    case = Case.objects.get(pk=result.case_id)
    assert case.queue == spam_queue
    other = file(source, system_actor, item(policy_book["hate"], external_id="p2"))
    assert Case.objects.get(pk=other.case_id).queue.slug == "general"


def test_reports_join_the_open_case_and_update_counts_and_priority(source, system_actor, policy_book):
    first = file(source, system_actor, item(policy_book["spam"], reporter=("user", "a")))
    second = file(source, system_actor, item(policy_book["hate"], reporter=("trusted_flagger", "tf")))
    third = file(source, system_actor, item(policy_book["spam"], reporter=("user", "a")))  # same reporter again
    anon1 = file(source, system_actor, item(policy_book["spam"]))
    anon2 = file(source, system_actor, item(policy_book["spam"]))
    assert {r.case_id for r in (first, second, third, anon1, anon2)} == {first.case_id}
    case = Case.objects.get(pk=first.case_id)
    assert case.report_count == 5
    assert case.reporter_count == 3  # a, tf and "anonymous users" counted once
    assert case.max_severity == policy_book["hate"].severity
    assert case.priority == case_priority(max_severity=4, reporter_weight=1 + 3 + 1, max_classifier_score=None, reach=0)
    assert [second.body["deduplicated"], third.body["case"]["report_count"]] == [True, 3]


def test_classifier_score_and_reach_raise_priority(source, system_actor, policy_book):
    low = file(source, system_actor, item(policy_book["spam"], external_id="a"))
    high = file(source, system_actor, item(policy_book["spam"], external_id="b", reporter=("automated", "clf"),
                                           score=0.9, fields={"metadata": {"followers_count": 100000}}))
    assert high.body["case"]["priority"] - low.body["case"]["priority"] == round(100 * 0.9) + 50 - round(40 * 1)


def test_a_report_after_close_opens_a_new_case_linked_to_the_old(source, system_actor, policy_book):
    first = file(source, system_actor, item(policy_book["spam"]))
    case_close(case_id=first.case_id, actor=system_actor, reason="done")
    second = file(source, system_actor, item(policy_book["spam"]))
    assert second.status == 201 and second.case_id != first.case_id
    new_case = Case.objects.get(pk=second.case_id)
    assert str(new_case.previous_case_id) == first.case_id
    assert new_case.report_count == 1


def test_database_allows_one_open_case_per_subject(source, system_actor, policy_book):
    result = file(source, system_actor, item(policy_book["spam"]))
    case = Case.objects.get(pk=result.case_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.create(subject=case.subject, source=source, queue=case.queue, opened_at=case.opened_at,
                            updated_at=case.updated_at)


def test_snapshot_on_the_report_survives_later_changes(source, system_actor, policy_book):
    it1 = ReportInput(subject=SubjectInput(kind="content", external_id="p", fields={"latest_text": "v1"},
                                           as_received={"kind": "content", "external_id": "p", "text": "v1"}),
                      policy=policy_book["spam"], reporter_kind="user")
    it2 = ReportInput(subject=SubjectInput(kind="content", external_id="p", fields={"latest_text": "v2"},
                                           as_received={"kind": "content", "external_id": "p", "text": "v2"}),
                      policy=policy_book["spam"], reporter_kind="user")
    r1, r2 = file(source, system_actor, it1), file(source, system_actor, it2)
    reports = {str(r.id): r for r in Report.objects.all()}
    assert reports[r1.body["report_id"]].snapshot["text"] == "v1"
    assert reports[r2.body["report_id"]].snapshot["text"] == "v2"
    assert Case.objects.get(pk=r1.case_id).subject.latest_text == "v2"
    # A report that does not carry the text leaves the latest snapshot alone.
    file(source, system_actor, item(policy_book["spam"], external_id="p"))
    assert Case.objects.get(pk=r1.case_id).subject.latest_text == "v2"


def test_content_author_is_an_account_subject(source, system_actor, policy_book):
    result = file(source, system_actor, item(policy_book["spam"], author="user-9"))
    subject = Case.objects.get(pk=result.case_id).subject
    assert subject.author.kind == "account" and subject.author.external_id == "user-9"


def test_state_changes_follow_the_table_and_are_audited(source, system_actor, policy_book):
    case_id = file(source, system_actor, item(policy_book["spam"])).case_id
    case_change_state(case_id=case_id, to_state=CaseState.IN_REVIEW, actor=system_actor, reason="claimed",
                      trigger="first_claim")
    before = AuditEvent.objects.count()
    again = case_change_state(case_id=case_id, to_state=CaseState.IN_REVIEW, actor=system_actor)
    assert again.state == CaseState.IN_REVIEW and AuditEvent.objects.count() == before  # no-op repeat
    event = AuditEvent.objects.filter(action="case.state_changed").get()
    assert event.data == {"from": "open", "to": "in_review", "reason": "claimed", "trigger": "first_claim"}
    case_close(case_id=case_id, actor=system_actor)
    with pytest.raises(TransitionNotAllowed):
        case_change_state(case_id=case_id, to_state=CaseState.OPEN, actor=system_actor)
    assert Case.objects.get(pk=case_id).closed_at is not None


@pytest.mark.parametrize("current", list(ALLOWED_TRANSITIONS))
def test_every_forbidden_transition_is_refused(source, system_actor, policy_book, current):
    from cases.states import check_transition

    for target in CaseState.values:
        if target == current:
            assert check_transition(current, target) is False
        elif target in ALLOWED_TRANSITIONS[current]:
            assert check_transition(current, target) is True
        else:
            with pytest.raises(TransitionNotAllowed):
                check_transition(current, target)


def test_policy_and_queue_changes_are_audited_with_a_diff(system_actor, policy_book):
    policy = Policy.objects.get(code="spam")
    policy.severity = 3
    policy_save(policy=policy, actor=system_actor)
    event = AuditEvent.objects.filter(stream=CONFIG_STREAM, action="policy.changed").latest("seq")
    assert event.data["changes"] == {"severity": [2, 3]}
    queue = queue_save(queue=Queue(slug="t", name="T"), actor=system_actor, policies=[policy])
    event = AuditEvent.objects.filter(stream=CONFIG_STREAM, action="queue.changed").latest("seq")
    assert event.data["created"] is True and event.data["policies"] == ["spam"]
    assert list(queue.policies.all()) == [policy]


def test_policy_severity_is_bounded(system_actor, policy_book):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        policy_save(policy=Policy(code="x", name="X", severity=6), actor=system_actor)


def test_intake_hooks_run_before_priorities_and_after_filing_once_per_call(source, system_actor, policy_book):
    """A hook that recognises a reporter before the priority is computed (as trusted-flagger recognition
    will) changes what is stored; the after-filing hook sees every stored report once."""
    import dataclasses

    from cases.services import IntakeHooks, reports_file_batch

    class Recognising(IntakeHooks):
        def __init__(self):
            self.received, self.filed = [], []

        def reports_received(self, *, source, items):
            self.received.append(len(items))
            return [dataclasses.replace(it, reporter_kind="trusted_flagger") if it.reporter_external_id == "tf-1"
                    else it for it in items]

        def reports_filed(self, *, source, filed):
            self.filed.append([(it.reporter_external_id, result.status) for it, result in filed])

    hooks = Recognising()
    spam = policy_book["spam"]
    results = reports_file_batch(source=source, api_client_id=None, actor=system_actor, hooks=hooks, items=[
        item(spam, external_id="h1", reporter=("user", "tf-1")),
        item(spam, external_id="h2", reporter=("user", "someone")),
    ])
    assert hooks.received == [2]
    assert hooks.filed == [[("tf-1", 201), ("someone", 201)]]
    recognised, ordinary = (Case.objects.get(pk=r.case_id) for r in results)
    assert Report.objects.get(case=recognised).reporter_kind == "trusted_flagger"
    assert recognised.priority == case_priority(max_severity=spam.severity, reporter_weight=3,
                                                max_classifier_score=None, reach=0)
    assert recognised.priority > ordinary.priority
    # a replay is answered before the hooks: nothing new is received or filed
    keyed = dataclasses.replace(item(spam, external_id="h3"), idempotency_key="k", fingerprint="f")
    reports_file_batch(source=source, api_client_id=None, actor=system_actor, hooks=hooks, items=[keyed])
    reports_file_batch(source=source, api_client_id=None, actor=system_actor, hooks=hooks, items=[keyed])
    assert hooks.received == [2, 1] and len(hooks.filed) == 2
