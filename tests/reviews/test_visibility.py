"""Per-team visibility at the service and selector level (cases.visibility and
the selectors that use it): a child-safety queue restricted to the
"child-safety" group is invisible — lists, counts, related cases,
dashboard figures and audit search — to everyone but its members, admins,
superusers and (configurably) auditors."""
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import audit_event_search
from audit.services import CONFIG_STREAM, case_stream
from cases.models import Case, Queue
from cases.services import queue_save
from cases.visibility import (
    case_access,
    hidden_case_streams,
    sees_all_queues,
    users_who_see_queue,
    visible_cases,
    visible_queues,
)
from reviews import casefile, services, stats, worklists
from reviews.models import Review
from tests import visibility_fixtures

pytestmark = pytest.mark.django_db

child_safety = visibility_fixtures.child_safety
file_any = visibility_fixtures.file_any


@pytest.fixture
def cases(child_safety, file_any):
    """A general case and a child-safety case about content by the same
    author with the same media: each is the other's "related" case."""
    media = [{"url": "https://m.example/a.jpg", "sha256": "ab" * 32}]
    general = uuid.UUID(str(file_any("post-general", "spam", author="acct-1", media=media)))
    restricted = uuid.UUID(str(file_any("post-restricted", "child_safety", author="acct-1", media=media)))
    assert Case.objects.get(pk=restricted).queue_id == child_safety.queue.pk
    assert Case.objects.get(pk=general).queue.slug == "general"
    return general, restricted


def test_restricting_a_queue_is_an_audited_configuration_change(child_safety, system_actor):
    event = AuditEvent.objects.filter(stream=CONFIG_STREAM, action="queue.changed",
                                      target_id="child-safety").latest("seq")
    assert event.data["restricted_to"] == ["child-safety"]
    queue_save(queue=child_safety.queue, actor=system_actor, restricted_to=[])
    lifted = AuditEvent.objects.filter(stream=CONFIG_STREAM, action="queue.changed",
                                       target_id="child-safety").latest("seq")
    assert lifted.data["changes"]["restricted_to"] == [["child-safety"], []]
    assert not child_safety.queue.restricted_to.exists()
    # lifted: every console user sees it again
    assert visible_queues(child_safety.moderator).filter(pk=child_safety.queue.pk).exists()


def test_who_sees_a_restricted_case(cases, child_safety, settings):
    general, restricted = cases
    superuser = User.objects.create_user("root", is_superuser=True)
    assert case_access(case_id=restricted, user=child_safety.moderator) == "hidden"
    assert case_access(case_id=restricted, user=child_safety.senior) == "hidden"  # a lead, but not in the team
    assert case_access(case_id=restricted, user=None) == "hidden"
    for who in (child_safety.member, child_safety.admin, child_safety.auditor, superuser):
        assert case_access(case_id=restricted, user=who) == "visible", who
    for who in (child_safety.moderator, child_safety.member):
        assert case_access(case_id=general, user=who) == "visible"
    assert case_access(case_id="01900000-0000-7000-8000-000000000000", user=child_safety.moderator) == "missing"

    assert set(visible_cases(child_safety.moderator).values_list("pk", flat=True)) == {general}
    assert set(visible_cases(child_safety.member).values_list("pk", flat=True)) == {general, restricted}
    assert not sees_all_queues(child_safety.senior) and sees_all_queues(child_safety.auditor)

    settings.VISIBILITY_AUDITORS_SEE_ALL = False
    assert case_access(case_id=restricted, user=child_safety.auditor) == "hidden"
    assert not sees_all_queues(child_safety.auditor)
    assert case_access(case_id=restricted, user=child_safety.admin) == "visible"


def test_a_queue_restricted_to_several_groups_is_seen_by_members_of_any(cases, child_safety, people,
                                                                        system_actor):
    from django.contrib.auth.models import Group

    extra = Group.objects.create(name="trust-and-safety-leads")
    people["moderators"][4].groups.add(extra)
    queue_save(queue=child_safety.queue, actor=system_actor, restricted_to=[child_safety.group, extra])
    _, restricted = cases
    assert case_access(case_id=restricted, user=people["moderators"][4]) == "visible"
    assert case_access(case_id=restricted, user=child_safety.member) == "visible"
    assert case_access(case_id=restricted, user=child_safety.moderator) == "hidden"


def test_my_work_overview_leaves_the_queue_out_counts_included(cases, child_safety):
    for who, read_everything in ((child_safety.moderator, False), (child_safety.senior, True),
                                 (child_safety.senior, False)):
        rows, _ = worklists.queue_overview(user=who, read_everything=read_everything)
        assert "child-safety" not in {r.queue.slug for r in rows}, who
    rows, _ = worklists.queue_overview(user=child_safety.member, read_everything=True)
    row = next(r for r in rows if r.queue.slug == "child-safety")
    assert row.waiting == 1 and row.workable
    assert worklists.queue_by_slug("child-safety", user=child_safety.senior) is None
    assert worklists.queue_by_slug("child-safety", user=child_safety.member) == child_safety.queue


def test_the_overview_cache_never_carries_a_restricted_queue_to_someone_else(cases, child_safety, settings,
                                                                             people):
    """Counts are shared by users with the same groups: two seniors, one in
    the team, have different groups; and the visibility is applied after
    the cache, so a restriction applies at once."""
    settings.CONSOLE_COUNTS_CACHE_SECONDS = 60
    from django.core.cache import cache

    cache.clear()
    member_rows, _ = worklists.queue_overview(user=child_safety.member, read_everything=True)
    assert "child-safety" in {r.queue.slug for r in member_rows}
    senior_rows, _ = worklists.queue_overview(user=child_safety.senior, read_everything=True)
    assert "child-safety" not in {r.queue.slug for r in senior_rows}
    # the member leaves the team: the cached counts no longer show them the queue
    child_safety.member.groups.remove(child_safety.group)
    again, _ = worklists.queue_overview(user=User.objects.get(pk=child_safety.member.pk), read_everything=True)
    assert "child-safety" not in {r.queue.slug for r in again}
    cache.clear()


def test_senior_and_appeal_lists_are_scoped(cases, child_safety):
    _, restricted = cases
    # The child-safety workflow is reviewed by seniors: its open review is on the seniors' list.
    assert restricted in {r.case_id for r in worklists.senior_reviews(user=child_safety.member)}
    assert restricted not in {r.case_id for r in worklists.senior_reviews(user=child_safety.senior)}
    assert restricted in {r.case_id for r in worklists.senior_reviews(user=child_safety.auditor)}
    from reviews.models import Appeal, AppealState, Decision, Outcome

    decision = Decision.objects.create(case_id=restricted, sequence=1, outcome=Outcome.objects.get(code="no_violation"),
                                       policy=Case.objects.get(pk=restricted).reports.first().policy,
                                       decided_at=timezone.now(), is_current=True, facts_and_reasons="none found")
    Appeal.objects.create(case_id=restricted, decision=decision, state=AppealState.OPEN, opened_at=timezone.now(),
                          appellant_kind="reporter", statement="please look again")
    assert [a.case_id for a in worklists.open_appeals(user=child_safety.member)] == [restricted]
    assert worklists.open_appeals(user=child_safety.senior) == []


def test_claimed_seats_leave_out_a_queue_restricted_after_the_claim(cases, child_safety, system_actor):
    _, restricted = cases
    seat = services.claim_next(moderator=child_safety.member, queue=child_safety.queue)
    assert seat.review.case_id == restricted
    assert [s.pk for s in worklists.claimed_seats(user=child_safety.member)] == [seat.pk]
    child_safety.member.groups.remove(child_safety.group)
    assert worklists.claimed_seats(user=child_safety.member) == []


def test_case_file_hides_the_case_and_its_relations(cases, child_safety):
    general, restricted = cases
    with pytest.raises(Case.DoesNotExist):
        casefile.case_file(case_id=restricted, viewer=child_safety.moderator)
    with pytest.raises(Case.DoesNotExist):
        casefile.case_media(case_id=restricted, viewer=child_safety.moderator)
    related = {r.case.pk for r in casefile.case_file(case_id=general, viewer=child_safety.moderator).related}
    assert restricted not in related
    member_view = casefile.case_file(case_id=general, viewer=child_safety.member)
    assert {r.case.pk: r.relation for r in member_view.related} == {restricted: "author_content"}
    assert casefile.case_file(case_id=restricted, viewer=child_safety.member).case.pk == restricted


def test_assignable_moderators_are_those_who_may_see_the_queue(cases, child_safety, people):
    _, restricted = cases
    seniors = User.objects.filter(groups__name="senior_moderator")
    allowed = set(users_who_see_queue(seniors, queue_id=child_safety.queue.pk).values_list("username", flat=True))
    assert allowed == {m.username for m in child_safety.members}
    lead_view = casefile.case_file(case_id=restricted, viewer=child_safety.member, can_assign=True)
    assert {u.username for u in lead_view.assignable} == {m.username for m in child_safety.members}
    general_queue = Queue.objects.get(slug="general")
    assert users_who_see_queue(seniors, queue_id=general_queue.pk).count() == seniors.count()


def test_dashboard_figures_leave_out_restricted_cases(cases, child_safety):
    general, restricted = cases
    services.claim_next(moderator=child_safety.member, queue=child_safety.queue)
    now = timezone.now()
    review = Review.objects.get(case_id=restricted, state="open")
    Review.objects.filter(pk=review.pk).update(breached_at=now)
    later = now + timedelta(minutes=1)

    def figures(user):
        return stats.dashboard_figures(user=user, now=later)

    for who in (child_safety.member, child_safety.admin, child_safety.auditor, None):
        f = figures(who)
        assert "child-safety" in {q.slug for q in f.backlog}
        assert f.first_action.cases == 1 and f.breaches == 1
        assert sum(d.breaches for d in f.days) == 1
    f = figures(child_safety.senior)
    assert "child-safety" not in {q.slug for q in f.backlog}
    assert sum(q.total for q in f.backlog) == 1  # the general case only
    assert f.first_action.cases == 0 and f.breaches == 0
    assert sum(d.breaches for d in f.days) == 0
    sampled_claims, _ = stats.medians_sampled(now - timedelta(days=1), later,
                                              hidden=(child_safety.queue.pk,))
    assert sampled_claims.cases == 0
    assert stats.medians_sampled(now - timedelta(days=1), later)[0].cases == 1


def test_audit_search_leaves_out_the_streams_of_hidden_cases(cases, child_safety):
    general, restricted = cases

    def streams(user, **filters):
        page = audit_event_search(hidden_streams=hidden_case_streams(user), page_size=500, **filters)
        return {e.stream for e in page.events}

    assert case_stream(restricted) in streams(child_safety.member)
    assert case_stream(restricted) in streams(child_safety.auditor)
    seen = streams(child_safety.senior)
    assert case_stream(restricted) not in seen and case_stream(general) in seen and CONFIG_STREAM in seen
    assert streams(child_safety.senior, case_id=restricted) == set()
    assert hidden_case_streams(User.objects.create_user("root2", is_superuser=True)) is None


def test_the_services_never_seat_someone_on_a_case_hidden_from_them(cases, child_safety):
    """The console checks the queue before it calls claim_next or seat_assign; the services
    check too, so no other caller (a command, a future API) can seat an outsider."""
    from reviews.errors import NotEligible

    _, restricted = cases
    outsider = child_safety.senior  # a senior (in the stage's group) outside the child-safety team
    assert services.claim_next(moderator=outsider, queue=child_safety.queue) is None
    review = Review.objects.get(case_id=restricted, state="open")
    with pytest.raises(NotEligible, match="may not see this case's queue"):
        services.seat_assign(review_id=review.pk, moderator=outsider, lead=child_safety.admin)
    assert not review.seat_set.exists()
    # A member gets the seat the outsider could not.
    assert services.claim_next(moderator=child_safety.member, queue=child_safety.queue).review_id == review.pk
