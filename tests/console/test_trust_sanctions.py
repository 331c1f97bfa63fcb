"""A suspension of a reporter's notices (DSA Art. 23(2)) is a lead's decision:
the system proposes, a lead confirms (with the statement the reporter gets)
or rejects it (with a reason), and may lift it early (with a reason); every
step audited. Driven through the console."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from cases.errors import TransitionNotAllowed
from cases.models import Source
from trust.abuse import NotALead, next_step, suspension_confirm, suspension_lift
from trust.intake import active_suspensions
from trust.models import ReporterSanction

pytestmark = pytest.mark.django_db


@pytest.fixture
def proposal(people):
    source = Source.objects.get_or_create(name="forum")[0]
    now = timezone.now()
    ReporterSanction.objects.create(source=source, reporter_external_id="troll", kind="warning", reason="w",
                                    notices=10, unfounded=10, created_at=now - timedelta(days=5))
    return ReporterSanction.objects.create(source=source, reporter_external_id="troll", kind="suspension",
                                           reason="proposed text", notices=12, unfounded=12, created_at=now,
                                           days=30, state="proposed")


def _suspended(sanction) -> bool:
    return "troll" in active_suspensions(source_id=sanction.source_id, external_ids={"troll"}, now=timezone.now())


def _post(client, name, sanction, **data):
    return client.post(reverse(f"console:{name}", args=[sanction.pk]), data)


def test_a_lead_confirms_with_a_statement_and_only_then_notices_are_held(people, sign_in, proposal):
    assert not _suspended(proposal)
    page = sign_in(people["seniors"][0]).get(reverse("console:trust")).content.decode()
    assert "proposed text" in page and reverse("console:sanction-confirm", args=[proposal.pk]) in page

    client = sign_in(people["seniors"][0])
    response = _post(client, "sanction-confirm", proposal, statement="Your notices are suspended for 30 days.")
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.state, proposal.reason, proposal.decided_by) == (
        "confirmed", "Your notices are suspended for 30 days.", people["seniors"][0])
    assert proposal.ends_at == proposal.decided_at + timedelta(days=30)
    assert _suspended(proposal)
    # a second click changes nothing and records nothing more
    assert _post(client, "sanction-confirm", proposal, statement="other").status_code == 302
    events = AuditEvent.objects.filter(action="reporter.suspension_confirmed")
    assert events.count() == 1 and events.get().data["statement"] == "Your notices are suspended for 30 days."


def test_a_moderator_or_an_auditor_cannot_decide(people, sign_in, proposal):
    for user in (people["moderators"][0], people["auditor"]):
        assert _post(sign_in(user), "sanction-confirm", proposal).status_code == 403
    auditor_page = sign_in(people["auditor"]).get(reverse("console:trust")).content.decode()
    assert "proposed text" in auditor_page and "sanction-confirm" not in auditor_page
    assert reverse("console:sanction-confirm", args=[proposal.pk]) not in auditor_page
    with pytest.raises(NotALead):  # the service refuses too, whatever the edge
        suspension_confirm(sanction_id=proposal.pk, lead=people["moderators"][0])
    proposal.refresh_from_db()
    assert proposal.state == "proposed" and not AuditEvent.objects.filter(action__startswith="reporter.").exists()


def test_a_rejection_needs_a_reason_and_resets_the_count(people, sign_in, proposal, settings):
    client = sign_in(people["seniors"][1])
    empty = _post(client, "sanction-reject", proposal, reason="   ")
    assert empty.status_code == 400 and "This field is required." in empty.content.decode()
    proposal.refresh_from_db()
    assert proposal.state == "proposed"

    assert _post(client, "sanction-reject", proposal, reason="the notices were in good faith").status_code == 302
    proposal.refresh_from_db()
    assert (proposal.state, proposal.lead_note, proposal.ends_at) == ("rejected", "the notices were in good faith",
                                                                       None)
    assert not _suspended(proposal)
    event = AuditEvent.objects.get(action="reporter.suspension_rejected")
    assert event.data["reason"] == "the notices were in good faith" and event.stream == f"trust:{proposal.source_id}"
    # a rejected proposal can be neither confirmed nor lifted afterwards
    assert _post(client, "sanction-confirm", proposal).status_code == 409
    with pytest.raises(TransitionNotAllowed):
        suspension_lift(sanction_id=proposal.pk, lead=people["admin"], reason="x")
    # the next proposal builds on the warning, counting only what came after the rejection
    settings.TRUST_ABUSE_MIN_NOTICES, settings.TRUST_ABUSE_UNFOUNDED_SHARE = 3, 0.75
    assert next_step(decided=3, unfounded=3, latest=proposal, now=timezone.now()) == "suspension"


def test_a_lead_lifts_a_running_suspension_early_with_a_reason(people, sign_in, proposal):
    suspension_confirm(sanction_id=proposal.pk, lead=people["admin"])
    assert _suspended(proposal)
    client = sign_in(people["seniors"][0])
    assert _post(client, "sanction-lift", proposal, reason="").status_code == 400
    assert _suspended(proposal)
    assert _post(client, "sanction-lift", proposal, reason="platform confirmed an account mix-up").status_code == 302
    proposal.refresh_from_db()
    assert (proposal.state, proposal.lifted_by, proposal.lead_note) == ("lifted", people["seniors"][0],
                                                                        "platform confirmed an account mix-up")
    assert not _suspended(proposal)
    event = AuditEvent.objects.get(action="reporter.suspension_lifted")
    assert event.data["reason"] == "platform confirmed an account mix-up" and event.data["was_until"]
    # a warning is not a suspension: nothing to confirm or lift there
    warning = ReporterSanction.objects.get(kind="warning")
    assert _post(client, "sanction-lift", warning, reason="x").status_code == 409
    assert _post(client, "sanction-lift", ReporterSanction(pk="01890000-0000-7000-8000-000000000000"),
                 reason="x").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_leads_deciding_at_once_take_one_decision(people, proposal):
    """Confirm and reject race on one proposal (real threads, PostgreSQL row lock): one wins, the other is
    refused, one audit event."""
    from trust.abuse import suspension_reject

    from ..trust.conftest import run_together

    results = run_together([
        lambda: suspension_confirm(sanction_id=proposal.pk, lead=people["seniors"][0]),
        lambda: suspension_reject(sanction_id=proposal.pk, lead=people["seniors"][1], reason="in good faith"),
    ])
    refused = [r for r in results if isinstance(r, TransitionNotAllowed)]
    assert len(refused) == 1 and not [r for r in results if isinstance(r, Exception) and r not in refused]
    proposal.refresh_from_db()
    assert proposal.state in ("confirmed", "rejected")
    decided = AuditEvent.objects.filter(action__in=["reporter.suspension_confirmed", "reporter.suspension_rejected"])
    assert [e.action.rsplit("_", 1)[1] for e in decided] == [proposal.state]
