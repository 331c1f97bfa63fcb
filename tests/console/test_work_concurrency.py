"""Two moderators pressing "Claim next" at the same moment, through the
views, with real threads and PostgreSQL connections: each gets a seat in a
different case (the review stage has one seat here, so a shared case would
mean a shared seat)."""
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from reviews.models import Seat, SeatState, Stage
from reviews.workflows import invalidate_routing_cache

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _together(calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=30)
            results[i] = call()
        except Exception as exc:  # reported by the assertions below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results


def test_two_moderators_claiming_at_once_get_different_cases(people, file_case, workflows):
    Stage.objects.filter(version__workflow__slug="standard", key="review").update(seats=1, quorum=1)
    invalidate_routing_cache()
    mods = people["moderators"][:2]
    url = reverse("console:claim-next", args=["general"])
    for round_ in range(3):
        case_ids = {str(file_case(external_id=f"race-{round_}-{i}")) for i in range(2)}
        clients = []
        for mod in mods:
            client = Client()
            client.force_login(mod)
            clients.append(client)
        responses = _together([(lambda c=c: c.post(url)) for c in clients])
        assert all(not isinstance(r, Exception) for r in responses), responses
        assert all(r.status_code == 302 for r in responses)
        locations = {r["Location"] for r in responses}
        assert locations == {reverse("console:case", args=[pk]) for pk in case_ids}
        seats = Seat.objects.filter(review__case_id__in=case_ids, state=SeatState.CLAIMED)
        assert sorted((s.moderator_id, str(s.review.case_id)) for s in seats) == sorted(
            (mod.pk, r["Location"].split("/")[2]) for mod, r in zip(mods, responses, strict=True))
        # the cases are taken: the next round starts from fresh ones
        assert {s.review.free_seats for s in seats} == {0}


def test_two_moderators_claiming_the_last_seat_from_the_case_page(people, file_case, workflows):
    """"Claim this case" pressed by two moderators at once for its one free seat: one gets it,
    the other is told someone was first; one seat, one audit event."""
    from audit.models import AuditEvent
    from reviews.models import Review

    Stage.objects.filter(version__workflow__slug="standard", key="review").update(seats=1, quorum=1)
    invalidate_routing_cache()
    mods = people["moderators"][:2]
    for round_ in range(3):
        case_id = str(file_case(external_id=f"page-race-{round_}"))
        review = Review.objects.get(case_id=case_id, state="open")
        url = reverse("console:claim", args=[case_id])
        clients = []
        for mod in mods:
            client = Client()
            client.force_login(mod)
            clients.append(client)
        data = {"review": str(review.pk)}
        responses = _together([(lambda c=c, url=url, data=data: c.post(url, data)) for c in clients])
        assert all(not isinstance(r, Exception) for r in responses), responses
        assert sorted(r.status_code for r in responses) == [302, 409]
        loser = next(r for r in responses if r.status_code == 409)
        assert "Someone else took the last free seat of this stage first" in loser.content.decode()
        winner = mods[[r.status_code for r in responses].index(302)]
        seats = Seat.objects.filter(review=review)
        assert [(s.moderator_id, s.state) for s in seats] == [(winner.pk, SeatState.CLAIMED)]
        assert Review.objects.get(pk=review.pk).free_seats == 0
        assert AuditEvent.objects.filter(stream=f"case:{case_id}", action="review.seat_claimed").count() == 1
