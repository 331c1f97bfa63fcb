"""Dashboard figures: backlog, SLA compliance, medians, breaches, quality
(overturns, splits, agreement), the daily series, and a fixed query count."""

import statistics
from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Case, Queue
from reviews import stats
from reviews.agreement import krippendorff_alpha_nominal
from reviews.models import Decision, Outcome, Review, Seat
from reviews.services import appeal_file, case_hold, claim_next, vote_cast
from reviews.stats import dashboard_figures, medians_sampled
from reviews.sweeps import sweep_breaches

pytestmark = pytest.mark.django_db


def general():
    return Queue.objects.get(slug="general")


def vote_on(case_id, mods, codes, policy, now=None):
    """Each moderator claims the case (the oldest open one in the queue) and votes."""
    for mod, code in zip(mods, codes, strict=True):
        seat = claim_next(moderator=mod, queue=general(), now=now)
        assert seat is not None and str(seat.review.case_id) == str(case_id)
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code=code), policy=policy,
                  rationale=f"{code} by {mod.username}", now=now)


def agreement_scenario(file, people, policy_book):
    """Six spam cases decided 2-of-3 (three unanimous pairs, two 2-1 triples,
    one split triple) and two harassment pairs. Returns the spam units."""
    mods = people["moderators"]
    spam = policy_book["spam"]
    plan = [
        ["remove_content", "remove_content"],
        ["no_violation", "no_violation"],
        ["remove_content", "remove_content"],
        ["remove_content", "no_violation", "remove_content"],
        ["no_violation", "remove_content", "no_violation"],
        ["remove_content", "no_violation", "label"],  # split: goes to the senior stage
    ]
    for i, codes in enumerate(plan):
        vote_on(file(external_id=f"spam-{i}"), mods[: len(codes)], codes, spam)
    for i in range(2):
        vote_on(file(external_id=f"harass-{i}", policy="harassment"), mods[:2], ["remove_content"] * 2,
                policy_book["harassment"])
    return plan


# ---- backlog ---------------------------------------------------------------------------------------------------


def test_backlog_per_queue_counts_states_and_oldest(file_report, people, policy_book):
    Queue.objects.create(slug="empty", name="Empty queue")
    first = file_report(external_id="a")
    file_report(external_id="b")
    held = file_report(external_id="c")
    claim_next(moderator=people["moderators"][0], queue=general())  # the oldest (first) goes in review
    case_hold(case_id=held, lead=people["seniors"][0], reason="waiting")
    backlog = {row.slug: row for row in dashboard_figures().backlog}
    assert set(backlog) == {"general", "empty"}
    row = backlog["general"]
    assert (row.open, row.in_review, row.escalated, row.on_hold, row.total) == (1, 1, 0, 1, 3)
    assert row.oldest_opened_at == Case.objects.get(pk=first).opened_at
    assert (backlog["empty"].total, backlog["empty"].oldest_opened_at) == (0, None)


def test_decided_cases_leave_the_backlog(file_report, people, policy_book):
    vote_on(file_report(), people["moderators"][:2], ["remove_content"] * 2, policy_book["spam"])
    (row,) = dashboard_figures().backlog
    assert row.total == 0 and row.oldest_opened_at is None


# ---- SLA, breaches ---------------------------------------------------------------------------------------------


def test_sla_compliance_per_window_excludes_reviews_without_deadline(file_report, people, policy_book):
    now = timezone.now()
    for i in range(4):
        vote_on(file_report(external_id=f"p{i}"), people["moderators"][:2], ["remove_content"] * 2, policy_book["spam"])
    reviews = list(Review.objects.order_by("opened_at"))
    h = timedelta(hours=1)
    # in time 2 h ago; late 3 h ago; in time 3 days ago; no deadline (excluded).
    for review, (closed, due) in zip(reviews, [(now - 2 * h, now - h), (now - 3 * h, now - 4 * h),
                                               (now - 72 * h, now - 70 * h), (now - h, None)], strict=True):
        Review.objects.filter(pk=review.pk).update(closed_at=closed, due_at=due)
    figures = dashboard_figures(now=now)
    assert (figures.sla_24h.numerator, figures.sla_24h.denominator) == (1, 2)
    assert (figures.sla_7d.numerator, figures.sla_7d.denominator) == (2, 3)
    assert figures.sla_24h.percent == 50.0
    # The 24 h window does not change the SLA figures (both are always given).
    assert dashboard_figures(now=now, window="24h").sla_7d == figures.sla_7d


def test_breaches_in_window_come_from_the_sweep(file_report, people, policy_book):
    file_report(external_id="late")
    review = Review.objects.get()
    breach_time = review.due_at + timedelta(seconds=1)
    sweep_breaches(now=breach_time)
    assert Review.objects.filter(breached_at__isnull=False).count() == 1
    assert dashboard_figures(now=breach_time + timedelta(hours=1), window="24h").breaches == 1
    assert dashboard_figures(now=breach_time + timedelta(days=2), window="24h").breaches == 0
    assert dashboard_figures(now=breach_time + timedelta(days=2), window="7d").breaches == 1


def test_empty_database_gives_no_misleading_numbers(db):
    figures = dashboard_figures()
    assert figures.sla_24h.value is None and figures.sla_7d.percent is None
    assert figures.overturn.value is None and figures.split.value is None
    assert figures.first_action.seconds is None and figures.first_action.cases == 0
    assert figures.decision.duration is None
    assert figures.breaches == 0
    (overall,) = figures.agreement
    assert overall.policy == "" and overall.units == 0 and not overall.enough and overall.alpha is None


# ---- medians ---------------------------------------------------------------------------------------------------


def test_medians_of_first_action_and_decision(file_report, people, policy_book):
    now = timezone.now()
    mods = people["moderators"]
    minutes = [10, 30, 50]
    for i in range(len(minutes)):
        vote_on(file_report(external_id=f"m{i}"), mods[:2], ["remove_content"] * 2, policy_book["spam"])
    cases = list(Case.objects.order_by("opened_at"))
    for case, m in zip(cases, minutes, strict=True):
        opened = now - timedelta(hours=5)
        Case.objects.filter(pk=case.pk).update(opened_at=opened)
        seats = list(Seat.objects.filter(review__case=case).order_by("pk"))
        Seat.objects.filter(pk=seats[0].pk).update(claimed_at=opened + timedelta(minutes=m))
        Seat.objects.filter(pk=seats[1].pk).update(claimed_at=opened + timedelta(minutes=m + 5))
        Decision.objects.filter(case=case).update(decided_at=opened + timedelta(minutes=2 * m + 60))
    figures = dashboard_figures(now=now, window="24h")
    assert figures.median_method == "percentile_cont"
    assert figures.first_action.seconds == pytest.approx(30 * 60)
    assert figures.first_action.cases == 3
    assert figures.decision.seconds == pytest.approx((60 + 60) * 60)
    assert figures.decision.duration == timedelta(hours=2)
    # The portable (SQLite) path agrees; with a sample smaller than the window it says so.
    claim, decision = medians_sampled(figures.since, now)
    assert (claim.seconds, decision.seconds) == (figures.first_action.seconds, figures.decision.seconds)
    assert not claim.sampled
    latest_two, _ = medians_sampled(figures.since, now, sample=2)
    assert latest_two.sampled and latest_two.seconds == statistics.median([30 * 60, 50 * 60])
    # Outside the window nothing counts.
    assert dashboard_figures(now=now + timedelta(days=1), window="24h").first_action.cases == 0


def test_percentile_cont_interpolates_even_counts(file_report, people, policy_book):
    for i, m in enumerate([10, 20]):
        case_id = file_report(external_id=f"e{i}")
        vote_on(case_id, people["moderators"][:2], ["remove_content"] * 2, policy_book["spam"])
        opened = Case.objects.get(pk=case_id).opened_at
        Seat.objects.filter(review__case_id=case_id).update(claimed_at=opened + timedelta(minutes=m))
    assert dashboard_figures(now=timezone.now() + timedelta(hours=1)).first_action.seconds == pytest.approx(15 * 60)


# ---- quality ---------------------------------------------------------------------------------------------------


def test_split_rate_and_agreement_per_policy(file_report, people, policy_book):
    plan = agreement_scenario(file_report, people, policy_book)
    figures = dashboard_figures()
    assert (figures.split.numerator, figures.split.denominator) == (1, 8)
    by_policy = {a.policy: a for a in figures.agreement}
    assert set(by_policy) == {"spam", "harassment", ""}
    spam = by_policy["spam"]
    assert (spam.units, spam.votes, spam.raters) == (6, 15, (2, 3))
    assert spam.alpha == pytest.approx(krippendorff_alpha_nominal(plan))
    assert spam.enough and spam.kappa is None and not spam.same_raters  # 2 and 3 raters: kappa does not apply
    harassment = by_policy["harassment"]
    assert (harassment.units, harassment.votes) == (2, 4)
    assert not harassment.enough  # fewer than MIN_AGREEMENT_UNITS units
    assert harassment.alpha is None  # one category only: undefined
    overall = by_policy[""]
    assert (overall.units, overall.votes) == (8, 19)


def test_agreement_shows_kappa_when_every_review_has_the_same_number_of_raters(file_report, people, policy_book,
                                                                              monkeypatch):
    monkeypatch.setattr(stats, "MIN_AGREEMENT_UNITS", 3)
    plan = [["remove_content"] * 2, ["no_violation"] * 2, ["remove_content"] * 2]
    for i, codes in enumerate(plan):
        vote_on(file_report(external_id=f"k{i}"), people["moderators"][:2], codes, policy_book["spam"])
    spam = next(a for a in dashboard_figures().agreement if a.policy == "spam")
    assert spam.same_raters and spam.enough
    assert spam.kappa == pytest.approx(1.0) and spam.alpha == pytest.approx(1.0)


def test_appeal_overturn_rate(file_report, people, policy_book, system_actor):
    mods = people["moderators"]
    results = []
    for i, code in enumerate(["no_violation", "remove_content"]):  # the appeal overturns, then upholds
        case_id = file_report(external_id=f"ap{i}")
        vote_on(case_id, mods[:2], ["remove_content"] * 2, policy_book["spam"])
        appeal = appeal_file(case_id=case_id, appellant_kind="affected_user", statement="satire", actor=system_actor)
        vote_on(case_id, mods[2:4], [code] * 2, policy_book["spam"])
        appeal.refresh_from_db()
        results.append(appeal.result)
    assert results == ["overturned", "upheld"]
    figures = dashboard_figures()
    assert (figures.overturn.numerator, figures.overturn.denominator) == (1, 2)
    assert dashboard_figures(now=timezone.now() + timedelta(days=8)).overturn.denominator == 0


# ---- daily series and query count ------------------------------------------------------------------------------


def test_daily_decisions_and_breaches(file_report, people, policy_book):
    vote_on(file_report(external_id="d1"), people["moderators"][:2], ["remove_content"] * 2, policy_book["spam"])
    vote_on(file_report(external_id="d2"), people["moderators"][:2], ["remove_content"] * 2, policy_book["spam"])
    now = timezone.now()
    Decision.objects.filter(case__subject__external_id="d2").update(decided_at=now - timedelta(days=2))
    Review.objects.filter(case__subject__external_id="d1").update(breached_at=now - timedelta(days=2))
    days = dashboard_figures(now=now).days
    assert len(days) == 7 and days[-1].day == timezone.localdate(now)
    assert [d.decisions for d in days][-3:] == [1, 0, 1]
    assert [d.breaches for d in days][-3:] == [1, 0, 0]
    assert sum(d.decisions for d in days) == 2


def test_query_count_is_fixed(file_report, people, policy_book, django_assert_num_queries):
    def count():
        with django_assert_num_queries(8):
            dashboard_figures()

    count()
    agreement_scenario(file_report, people, policy_book)
    Queue.objects.create(slug="other", name="Other")
    count()
