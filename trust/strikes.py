"""Strikes against accounts and the proposals they lead to (DSA Art. 23(1)).

An upheld violation (a decision whose outcome is a violation) strikes the
account: the subject itself when it is an account, else the content's
author. Weight = the policy's severity (1–5). A strike counts until
`TRUST_STRIKE_EXPIRY_DAYS` after the decision; a decision that supersedes
another (appeal, re-review) removes the other's strike — "reversed" when an
appeal overturned it — and strikes anew only if it is itself a violation.
When the active points (per threshold: under its policy, or under all)
go from below a threshold to at or above it, a proposal is stored in the
same transaction and, after commit, filed as a staff report on the account:
reviewers decide it like any case. Nothing happens to the account silently.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream
from cases.models import Subject, SubjectKind

from .models import ProposalAction, ProposalState, Strike, StrikeProposal, StrikeThreshold

log = logging.getLogger(__name__)

TRUST_ACTOR = Actor.system("trust")
PROPOSAL_REPORTER = "quorum-art23"


def account_of(subject: Subject) -> Subject | None:
    """The account a decision about `subject` strikes (None: content without a known author)."""
    return subject if subject.kind == SubjectKind.ACCOUNT else subject.author


def _active(account_id, now: datetime):
    return Strike.objects.filter(account_id=account_id, removed_at__isnull=True, expires_at__gt=now)


def active_points(*, account_id, now: datetime) -> dict:
    """{policy id: points, None: total} of the account's active strikes."""
    rows = _active(account_id, now).values("policy_id").annotate(points=Sum("weight"))
    points = {r["policy_id"]: r["points"] for r in rows}
    points[None] = sum(points.values())
    return points


def _lock_account(account_id) -> None:
    # An advisory lock, not the subject row: intake locks author rows before case rows, a decision holds its case
    # row already, so locking the author row here could deadlock with a report being filed.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 23))", [f"strike:{account_id}"])


def strikes_apply(*, decision, actor: Actor) -> Strike | None:
    """Applies `decision` to the strikes of its account, in the caller's
    transaction: removes the superseded decision's strike, adds this one's
    (at most one per decision: `INSERT … ON CONFLICT DO NOTHING` on the unique
    decision), stores a proposal for each threshold crossed. Returns the new
    strike or None. Idempotent: a second call changes nothing."""
    case = decision.case
    subject = Subject.objects.select_related("author").get(pk=case.subject_id)
    account = account_of(subject)
    if account is None:
        return None
    now = decision.decided_at
    _lock_account(account.pk)
    before = active_points(account_id=account.pk, now=now)
    if decision.supersedes_id:
        reason = "reversed_on_appeal" if decision.kind == "appeal_overturned" else "superseded"
        for strike in Strike.objects.filter(decision_id=decision.supersedes_id, removed_at__isnull=True):
            strike_remove(strike=strike, reason=reason, actor=actor, now=now)
    if not (decision.outcome.is_violation and decision.policy_id):
        return None
    if StrikeProposal.objects.filter(case_id=case.pk).exists():
        return None  # a decision on a repeat-offender proposal is the consequence of strikes, not a new one
    strike = _strike_insert(decision=decision, account=account, now=now)
    if strike is None:
        return None
    audit.record(stream=case_stream(case.pk), action="strike.added", actor=actor, target_type="strike",
                 target_id=strike.pk, data={"account_id": str(account.pk), "decision_id": str(decision.pk),
                                            "policy": decision.policy.code, "weight": strike.weight,
                                            "expires_at": strike.expires_at.isoformat()})
    after = active_points(account_id=account.pk, now=now)
    for threshold in StrikeThreshold.objects.filter(Q(policy__isnull=True) | Q(policy_id=decision.policy_id)):
        was, now_points = before.get(threshold.policy_id, 0), after.get(threshold.policy_id, 0)
        if was < threshold.points <= now_points:
            _propose(strike=strike, threshold=threshold, points=now_points, actor=actor, now=now)
    return strike


def _strike_insert(*, decision, account, now) -> Strike | None:
    strike = Strike(account=account, decision=decision, case_id=decision.case_id, policy_id=decision.policy_id,
                    weight=decision.policy.severity, created_at=now,
                    expires_at=now + timedelta(days=settings.TRUST_STRIKE_EXPIRY_DAYS))
    table = Strike._meta.db_table
    fields = [f for f in Strike._meta.concrete_fields]
    columns = ", ".join(f.column for f in fields)
    values = [f.get_db_prep_save(getattr(strike, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "
                       "ON CONFLICT (decision_id) DO NOTHING RETURNING id", values)
        return strike if cursor.fetchone() else None


def strike_remove(*, strike: Strike, reason: str, actor: Actor, now: datetime) -> None:
    """Takes a strike out of the count (kept for the history), audited."""
    changed = Strike.objects.filter(pk=strike.pk, removed_at__isnull=True).update(removed_at=now,
                                                                                 removed_reason=reason)
    if changed:
        audit.record(stream=case_stream(strike.case_id), action="strike.removed", actor=actor, target_type="strike",
                     target_id=strike.pk, data={"account_id": str(strike.account_id), "reason": reason,
                                                "decision_id": str(strike.decision_id)})


def _propose(*, strike: Strike, threshold: StrikeThreshold, points: int, actor: Actor, now: datetime) -> None:
    proposal, created = StrikeProposal.objects.get_or_create(
        strike=strike, threshold=threshold,
        defaults=dict(account_id=strike.account_id, action=threshold.action, suspend_days=threshold.suspend_days,
                      points=points, threshold_points=threshold.points, policy_id=strike.policy_id, created_at=now))
    if created:
        transaction.on_commit(lambda: proposal_file_quietly(proposal.pk))


def proposal_text(proposal: StrikeProposal) -> str:
    action = {ProposalAction.WARN: "warn the account", ProposalAction.BAN: "ban the account",
              ProposalAction.SUSPEND: f"suspend the account for {proposal.suspend_days} days"}[proposal.action]
    scope = f"under policy {proposal.policy.code}" if proposal.threshold and proposal.threshold.policy_id \
        else "under all policies"
    return (f"Repeat-offender proposal (DSA Art. 23): {action}. The account has {proposal.points} active strike "
            f"points {scope} (threshold {proposal.threshold_points}). This is a proposal for review; nothing has "
            f"been done to the account.")


def proposal_file(*, proposal_id, actor: Actor = TRUST_ACTOR) -> StrikeProposal:
    """Files a pending proposal as a staff report on its account through the
    intake use case (so the case is routed and reviewed like any other,
    four-eyes where the workflow asks for it). Idempotent: the report's
    idempotency key is the proposal id and the state moves by compare-and-swap."""
    from cases.services import ReportInput, SubjectInput
    from reviews.intake import report_intake

    with transaction.atomic():
        proposal = (StrikeProposal.objects.select_for_update(of=("self",))
                    .select_related("account__source", "policy", "threshold")
                    .get(pk=proposal_id))
        if proposal.state != ProposalState.PENDING:
            return proposal
        account = proposal.account
        item = ReportInput(
            subject=SubjectInput(kind=SubjectKind.ACCOUNT, external_id=account.external_id,
                                 as_received={"kind": "account", "external_id": account.external_id}),
            policy=proposal.policy, reporter_kind="staff", reporter_external_id=PROPOSAL_REPORTER,
            description=proposal_text(proposal), idempotency_key=f"art23-proposal-{proposal.pk}",
            fingerprint=str(proposal.pk))
        result = report_intake(source=account.source, api_client_id=None, actor=actor, item=item)
        proposal.case_id = result.case_id
        proposal.state = ProposalState.FILED
        proposal.save(update_fields=["case", "state"])
        audit.record(stream=case_stream(proposal.case_id), action="strike.proposal_made", actor=actor,
                     target_type="strike_proposal", target_id=proposal.pk,
                     data={"account_id": str(account.pk), "action": proposal.action,
                           "suspend_days": proposal.suspend_days, "points": proposal.points,
                           "threshold": proposal.threshold_points, "strike_id": str(proposal.strike_id)})
        return proposal


def proposal_file_quietly(proposal_id) -> None:
    """After-commit filing: a failure leaves the proposal pending for the sweep."""
    try:
        proposal_file(proposal_id=proposal_id)
    except Exception:  # noqa: BLE001 — the sweep (trust.tasks) files it later; the decision is already committed
        log.exception("filing repeat-offender proposal %s failed; the sweep will retry", proposal_id)


def proposals_file_pending(*, limit: int = 100, now: datetime | None = None) -> int:
    """The sweep: files proposals left pending (a crash between commit and
    filing). Returns how many it filed."""
    now = now or timezone.now()
    ids = list(StrikeProposal.objects.filter(state=ProposalState.PENDING).order_by("created_at")
               .values_list("pk", flat=True)[:limit])
    for proposal_id in ids:
        proposal_file_quietly(proposal_id)
    return len(ids)
