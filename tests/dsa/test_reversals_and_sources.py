"""The statement gaps closed in G3: a reversed restriction does not leave
its published statement standing alone; source_identity names a registered
trusted flagger's organisation, never a person; account_type comes from
what the platform says; reporters' notices are in their language."""

import pytest

from audit.context import Actor
from dsa import notices
from dsa import vocabulary as v
from dsa.defaults import install_default_dsa_mappings
from dsa.models import Notice, Statement, StatementState
from dsa.validation import validate_statement
from reviews.models import Decision, Outcome, Review
from reviews.services import appeal_file, seat_assign, vote_cast
from tests.integrations.conftest import assert_error, client_for, counts, post_json  # noqa: F401  (fixtures)
from trust.flaggers import flagger_save
from trust.models import TrustedFlagger

pytestmark = pytest.mark.django_db
REPORTS = "/api/v1/reports"


@pytest.fixture
def mapped(workflows, policy_book):
    install_default_dsa_mappings()


@pytest.fixture
def vote(people, policy_book):
    def run(case_id, outcome="remove_content", *, voters=None, policy="spam"):
        review = Review.objects.get(case_id=case_id, state="open")
        for moderator in voters or people["moderators"][:2]:
            seat_assign(review_id=review.pk, moderator=moderator, lead=people["seniors"][0])
            vote_cast(review_id=review.pk, reviewer=moderator, outcome=Outcome.objects.get(code=outcome),
                      policy=policy_book[policy], rationale="internal")
        return Decision.objects.get(case_id=case_id, is_current=True)

    return run


def _file(api, subject, reporter=None, policy="spam", status=201):
    body = {"subject": subject, "policy": policy, **({"reporter": reporter} if reporter else {})}
    response = post_json(api, REPORTS, body)
    assert response.status_code == status or (status == 201 and response.status_code == 200), response.content
    return response.json()["case"]["id"] if status in (200, 201) else response


CONTENT = {"kind": "content", "external_id": "post-1", "text": "buy now", "author": {"external_id": "acct-9"}}


@pytest.mark.django_db(transaction=True)  # the notices tail reads settled transactions only
@pytest.mark.parametrize("language, words", [("en", "Decision reversed"), ("de", "Entscheidung aufgehoben")])
def test_an_overturned_restriction_gets_a_linked_statement_that_ends_it(api, mapped, vote, people, language, words,
                                                                       settings):
    settings.DSA_HOLD_DECISIONS = True
    case_id = _file(api, {**CONTENT, "language": language})
    original = vote(case_id)
    first = Statement.objects.get(decision=original)
    assert first.state == StatementState.PUBLISHED and first.payload["end_date_visibility_restriction"] is None
    appeal_file(case_id=case_id, appellant_kind="affected_user", statement="satire", actor=Actor.system("platform"))
    reversal = vote(case_id, "no_violation", voters=people["moderators"][2:4])
    assert reversal.kind == "appeal_overturned" and reversal.sequence is not None  # restricts nothing: out at once

    first.refresh_from_db()
    ending = Statement.objects.get(corrects=first)
    assert first.state == StatementState.SUPERSEDED and ending.state == StatementState.PUBLISHED
    assert ending.decision_id == original.pk and ending.puid != first.puid and ending.payload["puid"] == ending.puid
    lifted = reversal.decided_at.date().isoformat()
    assert ending.payload["end_date_visibility_restriction"] == lifted
    assert ending.payload["decision_facts"].endswith(f"reversed on {lifted} (reversed on appeal): the restriction "
                                                     "was lifted on that day.")
    assert validate_statement(ending.payload) == {}
    assert {k: val for k, val in ending.payload.items() if k not in ("puid", "decision_facts",
                                                                      "end_date_visibility_restriction")} == {
        k: val for k, val in first.payload.items() if k not in ("puid", "decision_facts",
                                                                "end_date_visibility_restriction")}

    notices.dispatch()
    told = Notice.objects.get(kind="reversal")
    assert (told.recipient, told.recipient_external_id, told.language) == ("affected_user", "acct-9", language)
    assert words in told.subject and lifted in told.body and told.statement_id == ending.pk
    assert told.data["redress"] is None and told.data["statement_puid"] == ending.puid
    # The reversing decision itself makes no statement, and a second pass tells nobody twice.
    assert not Statement.objects.filter(decision=reversal).exists() and notices.dispatch() == 0


def test_a_reversal_of_an_unpublished_restriction_publishes_nothing(api, workflows, vote, people):
    case_id = _file(api, CONTENT)  # no DSA mappings: the statement is held, never published
    original = vote(case_id)
    assert Statement.objects.get(decision=original).state == StatementState.HELD
    appeal_file(case_id=case_id, appellant_kind="affected_user", statement="satire", actor=Actor.system("platform"))
    vote(case_id, "no_violation", voters=people["moderators"][2:4])
    assert Statement.objects.count() == 1 and not Statement.objects.filter(corrects__isnull=False).exists()


def test_source_identity_is_the_flagger_organisation_and_never_a_person(api, client_for, mapped, vote, policy_book):  # noqa: F811
    flagger_client = client_for(name="ngo-client", source_name=api.api_client.source.name)
    flagger_save(flagger=TrustedFlagger(name="Stop Spam e.V.", api_client_id=flagger_client.api_client.pk),
                 actor=Actor.system("admin"), expertise=[policy_book["spam"]], identities=[])
    by_flagger = _file(flagger_client, {**CONTENT, "external_id": "post-tf"},
                       reporter={"kind": "trusted_flagger", "external_id": "analyst-jane"})
    by_user = _file(api, {**CONTENT, "external_id": "post-user"}, reporter={"kind": "user", "external_id": "jane"})
    # Claiming to be a flagger from a client the registry does not know is a user's notice, with no identity.
    by_claim = _file(api, {**CONTENT, "external_id": "post-claim"},
                     reporter={"kind": "trusted_flagger", "external_id": "Fake Org"})
    payloads = {case: Statement.objects.get(decision=vote(case)).payload for case in (by_flagger, by_user, by_claim)}
    assert payloads[by_flagger]["source_type"] == v.SOURCE_TRUSTED_FLAGGER
    assert payloads[by_flagger]["source_identity"] == "Stop Spam e.V."
    assert "analyst-jane" not in str(payloads[by_flagger])
    for case in (by_user, by_claim):
        assert payloads[case]["source_type"] == v.SOURCE_ARTICLE_16 and "source_identity" not in payloads[case]


def test_account_type_comes_from_the_platform(api, mapped, vote):
    account = _file(api, {"kind": "account", "external_id": "acct-1", "account_type": "business"})
    content = _file(api, {**CONTENT, "external_id": "post-2", "author": {"external_id": "acct-2",
                                                                          "account_type": "private"}})
    unknown = _file(api, {**CONTENT, "external_id": "post-3"})
    got = {case: Statement.objects.get(decision=vote(case)).payload for case in (account, content, unknown)}
    assert got[account]["account_type"] == "ACCOUNT_TYPE_BUSINESS"
    assert got[content]["account_type"] == "ACCOUNT_TYPE_PRIVATE"
    assert "account_type" not in got[unknown]


@pytest.mark.parametrize("subject, field", [
    ({"kind": "account", "external_id": "a", "account_type": "company"}, "subject.account_type"),
    ({"kind": "account", "external_id": "a", "account_type": "ACCOUNT_TYPE_BUSINESS"}, "subject.account_type"),
    ({**CONTENT, "account_type": "private"}, "subject.account_type"),
    ({**CONTENT, "author": {"external_id": "x", "account_type": 1}}, "subject.author.account_type"),
])
def test_a_bad_account_type_is_refused_naming_the_field(api, workflows, subject, field, counts):  # noqa: F811
    before = counts()
    assert_error(_file(api, subject, status=400), 400, field)
    assert counts() == before


@pytest.mark.parametrize("language", ["12", "de_DE", "x" * 40, ""])
def test_a_bad_reporter_language_is_refused_naming_the_field(api, workflows, language, counts):  # noqa: F811
    before = counts()
    response = _file(api, CONTENT, reporter={"kind": "user", "external_id": "r1", "language": language}, status=400)
    assert_error(response, 400, "reporter.language")
    assert counts() == before


@pytest.mark.django_db(transaction=True)
def test_reporters_get_their_notices_in_their_language(api, mapped, vote):
    case_id = _file(api, CONTENT, reporter={"kind": "user", "external_id": "r-de", "language": "de-AT"})
    _file(api, CONTENT, reporter={"kind": "user", "external_id": "r-en"})
    _file(api, CONTENT, reporter={"kind": "user", "external_id": "r-fr", "language": "fr"})  # no fr template
    notices.dispatch()
    vote(case_id)
    notices.dispatch()
    got = {(n.kind, n.recipient_external_id): n for n in Notice.objects.filter(recipient="reporter")}
    assert {key: n.language for key, n in got.items()} == {
        ("receipt", "r-de"): "de", ("receipt", "r-en"): "en", ("receipt", "r-fr"): "en",
        ("outcome", "r-de"): "de", ("outcome", "r-en"): "en", ("outcome", "r-fr"): "en"}
    assert "Wir haben Ihre Meldung" in got["receipt", "r-de"].subject
    assert "Ergebnis Ihrer Meldung" in got["outcome", "r-de"].subject and "Inhalt entfernen" in got["outcome", "r-de"].body
    assert "We received your notice" in got["receipt", "r-en"].subject
    assert "Outcome of your notice" in got["outcome", "r-fr"].subject
