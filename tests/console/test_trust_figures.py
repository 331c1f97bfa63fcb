"""Console › DSA figures: the transparency page lists only cases the viewer may
open (with a count of the others), and the trusted flaggers' figures are
computed over a configurable window and shared from a cache."""

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from audit.context import Actor
from cases.models import Report, Source
from tests import visibility_fixtures
from trust.flaggers import flagger_save
from trust.models import TrustedFlagger

pytestmark = pytest.mark.django_db

child_safety = visibility_fixtures.child_safety
file_any = visibility_fixtures.file_any


def test_the_transparency_page_lists_only_cases_the_viewer_may_open(child_safety, file_any, sign_in):
    general = str(file_any("post-general", "spam"))
    restricted = str(file_any("post-restricted", "child_safety"))
    today = str(timezone.now().date())
    query = {"start": today, "end": today}

    outsider = sign_in(child_safety.senior)  # a senior outside the child-safety team
    html = outsider.get(reverse("console:transparency"), query).content.decode()
    assert reverse("console:case", args=[general]) in html
    assert restricted not in html and reverse("console:case", args=[restricted]) not in html
    assert "and 1 case in queues you cannot open" in html
    figures = json.loads(outsider.get(reverse("console:transparency"), {**query, "format": "json"}).content)
    assert figures["notices"]["total"] == {"count": 2, "case_ids": [general], "hidden_cases": 1}
    assert restricted not in json.dumps(figures)

    member = json.loads(sign_in(child_safety.member).get(reverse("console:transparency"),
                                                         {**query, "format": "json"}).content)
    assert member["notices"]["total"] == {"count": 2, "case_ids": sorted([general, restricted]), "hidden_cases": 0}


@pytest.fixture
def hotline(people, policy_book):
    source = Source.objects.get_or_create(name="forum")[0]
    return flagger_save(flagger=TrustedFlagger(name="Hotline e.V."), actor=Actor.system("t"),
                        expertise=[policy_book["harassment"]], identities=[(source, "hotline")])


def _notices_cell(html):
    row = html.split("Hotline e.V.")[1].split("</tr>")[0]
    return [c.split(">")[-1] for c in row.split("</td>")[:2]][1]


def test_flagger_figures_are_shared_from_the_cache_until_it_expires(people, file_case, sign_in, hotline, settings):
    settings.TRUST_FLAGGER_FIGURES_CACHE_SECONDS = 60
    cache.delete(f"trust:flagger-figures:{settings.TRUST_FLAGGER_WINDOW_DAYS}")
    file_case(external_id="p1", policy="harassment", reporter=("trusted_flagger", "hotline"))
    client = sign_in(people["seniors"][0])
    assert _notices_cell(client.get(reverse("console:trust")).content.decode()) == "1"

    file_case(external_id="p2", policy="harassment", reporter=("trusted_flagger", "hotline"))
    # another viewer within the minute gets the figures already computed (and the page says when)
    html = sign_in(people["auditor"]).get(reverse("console:trust")).content.decode()
    assert _notices_cell(html) == "1" and "Computed at" in html
    cache.delete(f"trust:flagger-figures:{settings.TRUST_FLAGGER_WINDOW_DAYS}")
    assert _notices_cell(client.get(reverse("console:trust")).content.decode()) == "2"


def test_the_flagger_window_is_a_setting(people, file_case, sign_in, hotline, settings):
    settings.TRUST_FLAGGER_WINDOW_DAYS = 7
    old = file_case(external_id="p-old", policy="harassment", reporter=("trusted_flagger", "hotline"))
    Report.objects.filter(case_id=old).update(received_at=timezone.now() - timedelta(days=8))
    file_case(external_id="p-new", policy="harassment", reporter=("trusted_flagger", "hotline"))
    html = sign_in(people["seniors"][0]).get(reverse("console:trust")).content.decode()
    assert "Notices of the last 7 days" in html and _notices_cell(html) == "1"
