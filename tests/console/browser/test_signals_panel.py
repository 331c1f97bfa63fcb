"""The signals panel of the case page ("Why this priority", coordinated reporting, linked accounts) passes axe."""

from django.urls import reverse

from .conftest import axe_check, claim_and_vote


def test_signals_panel_passes_axe_with_a_brigade_and_a_ban_evader(page_for, people, file_case):
    for i in range(12):
        brigade = file_case(external_id="critic", reporter=("user", f"fresh-{i}"), description="Ban this liar now!")
    old = file_case(external_id="acct-old", kind="account", signals={"subject": {"device": "dev-1"}})
    for mod in people["moderators"][:2]:
        claim_and_vote(old, mod, "suspend_account", duration_days=7, rationale="evading")
    evader = file_case(external_id="acct-new", kind="account", signals={"subject": {"device": "dev-1"}})
    page = page_for(people["moderators"][3])
    page.goto(reverse("console:case", args=[brigade]))
    panel = page.get_by_role("region", name="Why this priority")
    assert "Possible coordinated reporting" in panel.inner_text()
    axe_check(page)
    page.goto(reverse("console:case", args=[evader]))
    panel = page.get_by_role("region", name="Why this priority")
    assert "Possible ban evasion" in panel.inner_text() and "acct-old" in panel.inner_text()
    axe_check(page)
