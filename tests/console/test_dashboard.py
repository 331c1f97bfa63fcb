"""The supervisor dashboard: who may see it, what it shows, accessible
server-side charts, the window selector, and a fixed query count."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from cases.models import Queue
from console.charts import Series, bar_chart
from reviews import stats
from reviews.models import Outcome
from reviews.services import claim_next, vote_cast

URL = reverse("console:dashboard")


def decide(case_id, mods, codes, policy):
    for mod, code in zip(mods, codes, strict=True):
        seat = claim_next(moderator=mod, queue=Queue.objects.get(slug="general"))
        assert str(seat.review.case_id) == str(case_id)
        vote_cast(review_id=seat.review_id, reviewer=mod, outcome=Outcome.objects.get(code=code), policy=policy,
                  rationale="because")


@pytest.fixture
def activity(file_case, people, policy_book):
    """Two decided cases (one unanimous, one 2-1), one waiting."""
    mods = people["moderators"]
    decide(file_case(external_id="d1"), mods[:2], ["remove_content"] * 2, policy_book["spam"])
    decide(file_case(external_id="d2"), mods[:3], ["remove_content", "no_violation", "remove_content"],
           policy_book["spam"])
    file_case(external_id="waiting")


@pytest.mark.parametrize("who, status", [("seniors", 200), ("admin", 200), ("auditor", 200), ("moderators", 403),
                                         ("outsider", 403)])
def test_only_leads_and_auditors_see_the_dashboard(people, sign_in, who, status):
    user = people[who][0] if isinstance(people[who], list) else people[who]
    assert sign_in(user).get(URL).status_code == status


def test_sign_in_required(db):
    assert Client().get(URL).status_code == 302


def test_dashboard_shows_figures_charts_and_tables(activity, people, sign_in):
    response = sign_in(people["auditor"]).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-current="page">Dashboard<' in html
    assert html.count("<h1>") == 1
    # backlog table: the waiting case is open in the general queue
    queue_link = reverse("console:queue", args=["general"])
    row = re.search(rf'<th scope="row"><a href="{queue_link}">General</a></th>(.*?)</tr>', html, re.S)
    cells = re.findall(r'<td class="num">(\d+)</td>', row.group(1))
    assert cells == ["1", "0", "0", "0", "1"]
    # SLA and quality figures with their n
    assert "SLA compliance, last 24 hours" in html and "SLA compliance, last 7 days" in html
    assert "Median time to first action" in html and "Median time to decision" in html
    assert "2 cases: opened to first decision" in html
    assert "(0 of 2 reviews closed in consensus or split)" in html
    assert "Appeal overturn rate" in html
    # agreement: 2 units is below the minimum, so no number is shown for them
    agreement = html[html.index('id="agreement-heading"'):]
    assert "Not enough data" in agreement and "All policies" in agreement
    assert "Krippendorff’s alpha" in agreement and "Fleiss’ kappa" in agreement
    # two charts, each an accessible SVG with a title and the numbers as a table
    svgs = re.findall(r"<svg[^>]*>.*?</svg>", html, re.S)
    assert len(svgs) == 2
    for svg in svgs:
        assert 'role="img"' in svg and "<title id=" in svg and "aria-labelledby=" in svg
    assert html.count("<details>") >= 2 and "The numbers behind" in html
    assert "Decisions and breaches per day, last 7 days" in html


def test_no_inline_styles_or_scripts(activity, people, sign_in):
    html = sign_in(people["seniors"][0]).get(URL).content.decode()
    assert not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert "<script>" not in html


def test_agreement_figure_appears_with_enough_reviews(activity, people, sign_in, monkeypatch):
    monkeypatch.setattr(stats, "MIN_AGREEMENT_UNITS", 2)
    html = sign_in(people["auditor"]).get(URL).content.decode()
    agreement = html[html.index('id="agreement-heading"'):]
    spam_row = re.search(r"<tr>\s*<th scope=\"row\">Spam.*?</tr>", agreement, re.S).group(0)
    units, votes, raters = re.findall(r'<td class="num">([^<]+)</td>', spam_row)[:3]
    assert (units, votes, raters) == ("2", "5", "2–3")
    expected = stats.krippendorff_alpha_nominal([["remove_content"] * 2,
                                                 ["remove_content", "no_violation", "remove_content"]])
    assert f"{expected:.3f}" in spam_row
    assert "not applicable: the number of reviewers varies" in spam_row


def test_window_selector(activity, people, sign_in):
    client = sign_in(people["auditor"])
    response = client.get(URL, {"window": "24h"})
    assert response.status_code == 200
    assert '<option value="24h" selected>' in response.content.decode()
    # Without a choice the figures cover the default window (7 days), and the select says so.
    default = client.get(URL).content.decode()
    assert '<option value="7d" selected>' in default and '<option value="24h" selected>' not in default
    bad = client.get(URL, {"window": "1y"})
    assert bad.status_code == 400
    assert "Select a valid choice" in bad.content.decode() and "Backlog per queue" not in bad.content.decode()


def test_hostile_queue_names_are_escaped_in_tables_and_charts(people, sign_in, policy_book):
    Queue.objects.create(slug="evil", name='<script>alert(1)</script>"><svg onload=x>')
    html = sign_in(people["auditor"]).get(URL).content.decode()
    assert "<script>alert(1)" not in html and "<svg onload" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;svg onload=x&gt;" in html  # the table
    assert "&lt;script&gt;alert(1…</text>" in html  # the chart label, shortened


def test_query_count_does_not_grow_with_data(file_case, people, sign_in, policy_book, django_assert_max_num_queries):
    client = sign_in(people["auditor"])
    client.get(URL)  # warm the session
    # session, user, groups, the queues hidden from the user (cases.visibility), the figures
    with django_assert_max_num_queries(12) as small:
        assert client.get(URL).status_code == 200
    mods = people["moderators"]
    for i in range(4):
        decide(file_case(external_id=f"q{i}"), mods[:2], ["remove_content"] * 2, policy_book["spam"])
    file_case(external_id="open-1")
    Queue.objects.create(slug="more", name="More")
    with django_assert_max_num_queries(12) as large:
        assert client.get(URL).status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)


def test_bar_chart_scales_and_escapes():
    chart = bar_chart(chart_id="c", title="Tit<le>", categories=["a&b", "c"],
                      series=[Series("One", (3, 0), "series-0"), Series("Two", (1, 7), "series-1")])
    svg = str(chart.svg)
    assert svg.startswith('<svg class="chart" role="img" aria-labelledby="c-title"')
    assert '<title id="c-title">Tit&lt;le&gt;</title>' in svg
    assert "a&amp;b" in svg and "style=" not in svg
    assert svg.count('<rect class="bar series-') == 4 + 2  # bars + legend swatches
    assert chart.rows == [("a&b", [3, 1]), ("c", [0, 7])]
    # the tallest bar (7, axis top 10) is 70% of the plot height
    heights = [float(h) for h in re.findall(r'<rect class="bar series-1" x="[\d.]+" y="[\d.]+" width="[\d.]+" '
                                            r'height="([\d.]+)"', svg)]
    assert heights[1] == pytest.approx(0.7 * (260 - 36 - 44), abs=0.1)
