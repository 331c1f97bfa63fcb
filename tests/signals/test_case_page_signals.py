"""The case page explains the priority and shows the signals (German too)."""

import pytest
from django.utils import translation

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator_client(client, people):
    client.force_login(people["moderators"][0])
    return client


def test_the_case_page_shows_why_this_priority_and_the_coordinated_reporting(file, moderator_client):
    for i in range(12):
        result = file("critic", reporter=f"fresh-{i}", description="Ban this liar now!")
    html = moderator_client.get(f"/cases/{result.case_id}/").content.decode()
    assert "Why this priority" in html and "Possible coordinated reporting" in html
    assert "Share of near-identical descriptions" in html and "damped by" in html


def test_the_case_page_lists_linked_accounts_with_their_decisions(file, decide, moderator_client):
    old = file("acct-old", subject_kind="account", signals={"subject": {"device": "dev-1"}})
    decide(old.case_id, "suspend_account", duration_days=7)
    new = file("acct-new", subject_kind="account", signals={"subject": {"device": "dev-1"}})
    html = moderator_client.get(f"/cases/{new.case_id}/").content.decode()
    assert "Possible ban evasion" in html and "acct-old" in html and f"/cases/{old.case_id}/" in html
    assert "suspend_account" in html and "Linked to a sanctioned account" in html


def test_the_signals_panel_is_german_for_german_users(file, moderator_client):
    result = file("critic-de", reporter="x", description="text")
    with translation.override("de"):
        html = moderator_client.get(f"/cases/{result.case_id}/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Warum diese Priorität" in html
