"""The DSA pages for leads (trusted flaggers, reporter sanctions, proposals,
transparency report) and the account standing on the case page."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.context import Actor
from cases.models import Source
from reviews.models import Outcome, Review
from reviews.services import seat_assign, vote_cast
from trust.flaggers import flagger_save
from trust.models import ReporterSanction, StrikeThreshold, TrustedFlagger
from trust.transparency import transparency_report, without_cases

pytestmark = pytest.mark.django_db


def _decide(case_id, people, code, policy):
    for mod in people["moderators"][:2]:
        review = Review.objects.get(case_id=case_id, state="open")
        seat_assign(review_id=review.pk, moderator=mod, lead=people["admin"])
        vote_cast(review_id=review.pk, reviewer=mod, outcome=Outcome.objects.get(code=code), policy=policy,
                  rationale="r")


def test_leads_see_flagger_accuracy_sanctions_and_proposals(people, file_case, sign_in, policy_book, console_source):
    flagger_save(flagger=TrustedFlagger(name="Hotline e.V."), actor=Actor.system("t"),
                 expertise=[policy_book["harassment"]], identities=[(console_source, "hotline")])
    for n, code in enumerate(["remove_content", "remove_content", "no_violation"]):
        case_id = file_case(external_id=f"p{n}", policy="harassment", reporter=("trusted_flagger", "hotline"))
        _decide(case_id, people, code, policy_book["harassment"])
    ReporterSanction.objects.create(source=console_source, reporter_external_id="troll<b>", kind="warning",
                                    reason="3 of your 3 notices …", notices=3, unfounded=3,
                                    created_at=timezone.now())

    response = sign_in(people["seniors"][0]).get(reverse("console:trust"))
    assert response.status_code == 200
    html = response.content.decode()
    row = html.split("Hotline e.V.")[1].split("</tr>")[0]
    assert [c.split(">")[-1] for c in row.split("</td>")[:5]] == ["Active", "3", "3", "2", "67 %"]
    assert "troll&lt;b&gt;" in html and "troll<b>" not in html


@pytest.mark.parametrize("who, status", [("moderator", 403), ("auditor", 200), ("admin", 200)])
def test_only_leads_and_auditors_open_the_dsa_pages(people, sign_in, who, status, policy_book):
    user = {"moderator": people["moderators"][0], "auditor": people["auditor"], "admin": people["admin"]}[who]
    client = sign_in(user)
    assert client.get(reverse("console:trust")).status_code == status
    assert client.get(reverse("console:transparency")).status_code == status


def test_the_transparency_page_shows_the_reports_figures_and_links_their_cases(people, file_case, sign_in,
                                                                              policy_book):
    case_id = file_case(external_id="p1", policy="spam", reporter=("user", "u1"))
    _decide(case_id, people, "remove_content", policy_book["spam"])
    today = timezone.now().date()
    client = sign_in(people["auditor"])
    query = {"start": str(today), "end": str(today)}

    response = client.get(reverse("console:transparency"), query)
    assert response.status_code == 200
    assert reverse("console:case", args=[case_id]) in response.content.decode()
    download = client.get(reverse("console:transparency"), {**query, "format": "json"})
    figures = json.loads(download.content)
    expected = transparency_report(start=timezone.datetime.fromisoformat(figures["period"]["from"]),
                                   end=timezone.datetime.fromisoformat(figures["period"]["to"]))
    assert figures == json.loads(json.dumps(without_cases(expected, set())))  # an auditor sees every case
    assert figures["actions"]["total"] == {"count": 1, "case_ids": [str(case_id)], "hidden_cases": 0}


@pytest.mark.parametrize("query, field", [({"start": "2026-02-30", "end": "2026-03-01"}, "start"),
                                          ({"start": "2026-03-02", "end": "2026-03-01"}, "end"),
                                          ({"start": "2026-03-02"}, "end")])
def test_bad_periods_are_refused_naming_the_field(people, sign_in, query, field, policy_book):
    response = sign_in(people["auditor"]).get(reverse("console:transparency"), query)
    assert response.status_code == 400
    assert f'id="id_{field}"' in response.content.decode()
    assert response.context["form"].errors[field]


def test_the_case_page_shows_the_accounts_strikes_and_an_unconfirmed_claim(people, file_case, sign_in, policy_book):
    StrikeThreshold.objects.create(points=100, action="ban")
    first = file_case(external_id="p1", policy="harassment", author="acct-1")
    _decide(first, people, "remove_content", policy_book["harassment"])
    second = file_case(external_id="p2", policy="spam", author="acct-1")
    from cases.models import Report

    Report.objects.filter(case_id=second).update(claimed_reporter_kind="trusted_flagger")  # as trust.intake stores it
    html = sign_in(people["moderators"][2]).get(reverse("console:case", args=[second])).content.decode()
    standing = html.split('id="standing-heading"')[1].split("</section>")[0]
    assert "3 active strike points" in standing and reverse("console:case", args=[first]) in standing
    assert "User (claimed: Trusted flagger, not confirmed)" in html


def test_the_dsa_pages_in_german(people, sign_in, policy_book):
    client = sign_in(people["auditor"])
    client.cookies["django_language"] = "de"
    html = client.get(reverse("console:trust"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Vertrauenswürdige Hinweisgeber" in html
    html = client.get(reverse("console:transparency"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Transparenzbericht" in html and "Beschwerden" in html


def test_expired_strikes_show_as_expired(people, file_case, sign_in, policy_book):
    from trust.models import Strike

    first = file_case(external_id="p1", policy="spam", author="acct-1")
    _decide(first, people, "remove_content", policy_book["spam"])
    Strike.objects.update(expires_at=timezone.now() - timedelta(days=1))
    html = sign_in(people["moderators"][2]).get(reverse("console:case", args=[first])).content.decode()
    standing = html.split('id="standing-heading"')[1].split("</section>")[0]
    assert "0 active strike points" in standing and "expired" in standing
    assert Source.objects.count() == 1
