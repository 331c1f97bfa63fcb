"""axe-core (WCAG 2.2 A/AA), English and German, 1280/390/320 px, on the rule pages: the list,
a new rule refused with its errors, a rule with backtest results and shadow hits; and
"make a rule from this case" used as a lead would."""
import pytest
from django.urls import reverse
from playwright.sync_api import expect

from rules import engine
from rules.backtest_runs import backtest_run_execute
from rules.models import BacktestRun, Rule

from .conftest import axe_check, claim_and_vote, watch
from .test_pages import check_widths, visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rule_pages_for_a_lead(page_for, people, file_case):
    decided = str(file_case(text="Visit the fabulous roulette palace", policy="spam", score=0.91))
    claim_and_vote(decided, people["moderators"][0], "remove_content", rationale="Casino spam.")
    claim_and_vote(decided, people["moderators"][1], "remove_content", rationale="Same.")
    page = page_for(people["seniors"][0])

    # From incident to rule: the button on the decided case, then the backtest on the spot.
    page.goto(reverse("console:case", args=[decided]))
    with page.expect_navigation():
        page.get_by_role("button", name="Make a rule from this case").click()
    run = BacktestRun.objects.get()
    assert page.url.endswith(reverse("console:rule-backtest", args=[run.rule.slug, run.pk]))
    backtest_run_execute(run_id=run.pk, attempt=1)  # what the worker does; the page polls and shows the results
    expect(page.locator("main")).to_contain_text("Of 1 decided cases the rule matches 1")
    check_widths(page)
    slug = Rule.objects.get().slug
    visit(page, reverse("console:rule", args=[slug]), heading="Rule")

    # Publish in shadow; a new report shows up under the shadow results.
    with page.expect_navigation():
        page.get_by_role("button", name="Publish version 1").click()
    page.get_by_role("combobox", name="Mode").select_option("shadow")
    with page.expect_navigation():
        page.get_by_role("button", name="Change mode").click()
    engine.invalidate()  # the live server runs in this process; its cache is this one
    shadowed = str(file_case(text="the fabulous roulette palace again", score=0.95))
    visit(page, reverse("console:rule", args=[slug]), heading="Rule")
    assert shadowed in page.locator("main").inner_text()
    visit(page, reverse("console:rule-backtest", args=[slug, run.pk]), heading="Backtest")
    visit(page, reverse("console:rules"), heading="Rules")

    # A refused new rule: the errors are shown beside the fields, and the page still passes axe.
    page.goto(reverse("console:rule-new"))
    page.get_by_label("Slug").fill("broken")
    page.get_by_label("Name", exact=True).fill("Broken")
    page.get_by_label("Condition (CEL)").fill("report.nope > 1")
    watch(page).expect(r"status of 400")  # the refusal itself
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Save draft").click()
    assert navigation.value.status == 400
    assert "unknown field 'nope'" in page.locator("main").inner_text()
    assert page.title().startswith("Error:")
    axe_check(page)
