"""Every console page, rendered in German, contains no English string from the project's own
catalogue (locale/de) and no English name of a configured outcome, policy, stage or queue that
has a German translation. Reported content (which is the platform's, in any language) is
removed before looking."""
import re
from html import unescape
from pathlib import Path

import pytest
from django.urls import reverse

from cases.models import Policy, Queue
from reviews.models import AppellantKind, Outcome, Review, Stage
from reviews.services import appeal_file, seat_assign, vote_cast

PO = Path(__file__).resolve().parents[2] / "locale" / "de" / "LC_MESSAGES" / "django.po"


def english_phrases():
    """Catalogue msgids of at least two words whose German differs: specific enough that finding one
    on a German page means it was not translated."""
    phrases = set()
    for block in re.split(r"\n\s*\n", PO.read_text()):
        body = "\n".join(ln for ln in block.splitlines() if not ln.startswith("#"))
        m = re.search(r'^msgid ((?:"[^\n]*"\n?)+)msgstr ((?:"[^\n]*"\n?)+)', body + "\n", re.M)
        if not m:
            continue
        msgid = "".join(re.findall(r'"(.*)"', m.group(1))).replace('\\"', '"')
        msgstr = "".join(re.findall(r'"(.*)"', m.group(2)))
        if "%(" in msgid or "{" in msgid or len(msgid) < 12 or " " not in msgid or msgid == msgstr:
            continue
        phrases.add(msgid)
    return phrases


def visible_text(html):
    """The page's text without scripts, hidden inputs and reported content (class reported-*)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r'<(\w+)[^>]*class="[^"]*reported-[^"]*"[^>]*>.*?</\1>', " ", html, flags=re.S)
    html = re.sub(r'<option[^>]*lang="en"[^>]*>.*?</option>', " ", html, flags=re.S)  # "English" in the switcher
    # A DSA statement of reasons is a document in the affected user's language, marked with lang (WCAG 3.1.2).
    html = re.sub(r'<dl class="statement-fields" lang="[a-z-]+">.*?</dl>', " ", html, flags=re.S)
    html = re.sub(r'<textarea[^>]*lang="[a-z-]+"[^>]*>.*?</textarea>', " ", html, flags=re.S)  # its correction form
    html = re.sub(r'<option value="[A-Za-z_]+/[^"]*">[^<]*</option>', " ", html)  # IANA zone names (Mexico/General)
    text = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", unescape(text))


@pytest.fixture
def german_data(people, file_case, policy_book, system_actor):
    mods, seniors = people["moderators"], people["seniors"]
    decided = file_case(text="Buy followers now", policy="spam")
    for mod in mods[:2]:
        review = Review.objects.get(case_id=decided, state="open")
        seat_assign(review_id=review.pk, moderator=mod, lead=seniors[0])
        vote_cast(review_id=review.pk, reviewer=mod, outcome=Outcome.objects.get(code="remove_content"),
                  policy=policy_book["spam"], rationale="spam")
    appeal_file(case_id=decided, appellant_kind=AppellantKind.AFFECTED_USER, statement="please", actor=system_actor)
    open_case = file_case(text="still open", policy="hate")
    seat_assign(review_id=Review.objects.get(case_id=open_case).pk, moderator=mods[3], lead=seniors[0])
    return {"decided": decided, "open": open_case}


def test_every_console_page_is_german(people, sign_in, german_data):
    phrases = english_phrases()
    assert len(phrases) > 100  # the catalogue was read
    names = {o.name for o in Outcome.objects.exclude(name_translations={})}
    names |= {p.name for p in Policy.objects.exclude(name_translations={}) if p.name != p.name_translations.get("de")}
    names |= {s.name for s in Stage.objects.exclude(name_translations={})}
    names |= {q.name for q in Queue.objects.exclude(name_translations={}) if q.name != q.name_translations.get("de")}
    assert "Remove content" in names and "Hateful conduct" in names and "Senior review" in names

    pages = {
        people["moderators"][3]: [reverse("console:my-work"), reverse("console:queue", args=["general"]),
                                  reverse("console:case", args=[german_data["open"]]), reverse("console:preferences")],
        people["seniors"][1]: [reverse("console:escalations"), reverse("console:appeals"),
                               reverse("console:dashboard"), reverse("console:case", args=[german_data["decided"]])],
        people["auditor"]: [reverse("console:audit") + f"?case={german_data['decided']}"],
    }
    problems = []
    for user, urls in pages.items():
        client = sign_in(user)
        client.cookies["django_language"] = "de"
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            text = visible_text(response.content.decode())
            found = sorted(p for p in phrases | names if re.search(r"(?<![\w-])" + re.escape(p) + r"(?![\w-])", text))
            if found:
                problems.append(f"{url}: {found}")
    assert not problems, "English on German pages:\n" + "\n".join(problems)


def test_admin_configuration_pages_are_german(admin_client, german_data):
    """The admin pages where the configuration is edited: the models' field names and help texts
    come from the project's catalogue (Django's own strings from Django's)."""
    from reviews.models import WorkflowVersion

    phrases = english_phrases() | {"Duration seconds", "Is violation", "Requires approval", "Name translations"}
    admin_client.cookies["django_language"] = "de"
    outcome = Outcome.objects.get(code="remove_content")
    urls = [
        reverse("admin:reviews_outcome_change", args=[outcome.pk]), reverse("admin:reviews_outcome_changelist"),
        reverse("admin:cases_policy_change", args=[Policy.objects.get(code="spam").pk]),
        reverse("admin:cases_queue_change", args=[Queue.objects.get(slug="general").pk]),
        reverse("admin:reviews_slapolicy_add"),
        reverse("admin:reviews_workflowversion_change", args=[WorkflowVersion.objects.first().pk]),
    ]
    problems = []
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        text = visible_text(response.content.decode())
        # the SLA policy's duration is entered in hours and minutes, labelled in German
        assert "ersetzt die SLA der Stufe (Stunden und Minuten)" in text or "slapolicy" not in url, url
        found = sorted(p for p in phrases if re.search(r"(?<![\w-])" + re.escape(p) + r"(?![\w-])", text))
        if found:
            problems.append(f"{url}: {found}")
    assert not problems, "English on German admin pages:\n" + "\n".join(problems)
