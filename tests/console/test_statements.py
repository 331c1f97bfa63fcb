"""DSA statements of reasons on the case page: the preview before a vote,
held statements' errors shown to leads, and a lead's correction (audited)."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from audit.models import AuditEvent
from dsa.defaults import install_default_dsa_mappings
from dsa.models import PolicyMapping, Statement
from reviews.models import Outcome, Review
from reviews.services import seat_assign, vote_cast

pytestmark = pytest.mark.django_db


def _decide(case_id, mods, outcome="remove_content", policy=None, rationale="internal: ban again"):
    review = Review.objects.get(case_id=case_id, state="open")
    for mod in mods:
        seat_assign(review_id=review.pk, moderator=mod, lead=User.objects.get(username="admin1"))
        vote_cast(review_id=review.pk, reviewer=mod, outcome=Outcome.objects.get(code=outcome), policy=policy,
                  rationale=rationale)


def test_the_vote_form_previews_the_statement_without_voting(people, file_case, sign_in, policy_book):
    install_default_dsa_mappings()
    case_id = file_case()
    mod = people["moderators"][0]
    seat_assign(review_id=Review.objects.get(case_id=case_id).pk, moderator=mod, lead=people["admin"])
    review = Review.objects.get(case_id=case_id)
    response = sign_in(mod).post(reverse("console:statement-preview", args=[case_id]), {
        "review": review.pk, "outcome": "remove_content", "policy": "spam", "rationale": "secret-rationale",
        "public_explanation": "Advertising links."})
    html = response.content.decode()
    assert response.status_code == 200 and "DECISION_VISIBILITY_CONTENT_REMOVED" in html
    assert "would be published" in html and "Advertising links." in html
    assert 'value="remove_content" selected' in html or "secret-rationale" in html  # the form keeps what was typed
    assert not review.votes.exists() and not Statement.objects.exists()


def test_leads_see_why_a_statement_is_held_and_correct_it(people, file_case, sign_in, policy_book):
    install_default_dsa_mappings()
    PolicyMapping.objects.filter(policy__code="spam").delete()
    case_id = file_case()
    _decide(case_id, people["moderators"][:2], policy=policy_book["spam"])
    statement = Statement.objects.get()
    assert statement.state == "held"
    moderator_page = sign_in(people["moderators"][2]).get(reverse("console:case", args=[case_id])).content.decode()
    assert "Held: a lead must correct it" in moderator_page and "decision_ground</code>:" not in moderator_page
    lead = sign_in(people["seniors"][0])
    page = lead.get(reverse("console:case", args=[case_id])).content.decode()
    assert "Publication is held until every field validates" in page and "<code>decision_ground</code>" in page
    assert "ban again" not in page.split('id="statement-panel"')[1].split("</section>")[0]

    url = reverse("console:statement-correct", args=[case_id])
    body = {"correct-statement": statement.pk, "correct-decision_facts": statement.payload["decision_facts"],
            "correct-category": statement.payload["category"], "correct-decision_ground": "DECISION_GROUND_NOPE",
            "correct-territorial_scope": "DE, AT", "correct-content_type": "CONTENT_TYPE_TEXT"}
    assert sign_in(people["moderators"][0]).post(url, body).status_code == 403
    response = lead.post(url, body)
    assert response.status_code == 302
    statement.refresh_from_db()
    assert statement.state == "held" and "decision_ground" in statement.errors
    body.update({"correct-decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
                 "correct-incompatible_content_ground": "Terms § 3",
                 "correct-incompatible_content_explanation": "No advertising."})
    assert lead.post(url, body).status_code == 302
    statement.refresh_from_db()
    assert statement.state == "published" and statement.payload["territorial_scope"] == ["DE", "AT"]
    assert AuditEvent.objects.filter(action="statement.corrected", actor_name=people["seniors"][0].username).count() == 2


def test_a_statement_of_another_case_is_not_found(people, file_case, sign_in, policy_book):
    install_default_dsa_mappings()
    first, second = file_case(external_id="a"), file_case(external_id="b")
    _decide(first, people["moderators"][:2], policy=policy_book["spam"])
    statement = Statement.objects.get()
    response = sign_in(people["seniors"][0]).post(reverse("console:statement-correct", args=[second]), {
        "correct-statement": statement.pk, "correct-territorial_scope": "FR"})
    assert response.status_code == 404 and Statement.objects.get().payload["territorial_scope"] != ["FR"]
