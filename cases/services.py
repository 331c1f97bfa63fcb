"""Writes about subjects, reports and cases. Every function here runs in a
transaction, locks what it changes and records an audit event."""

import json
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import CONFIG_STREAM, case_stream
from config.sql import update_from_values

from .errors import IdempotencyConflict
from .ids import uuid7
from .models import Case, CaseState, Policy, Queue, Report, RereviewRule, Source, Subject, SubjectKind
from .priority import REPORTER_WEIGHTS, case_priority, reach_of
from .rereview import content_changed, content_hash, judge_after_decision, reopen_reasons
from .selectors import invalidate_configuration_cache, queue_for_policy, rereview_settings_for
from .states import REVIEWING_STATES, check_transition

SUBJECT_OPTIONAL_FIELDS = ("url", "display_name", "latest_text", "latest_media", "language", "metadata", "author_id")
_JSON_COLUMNS = {"latest_media", "metadata"}


@dataclass(frozen=True)
class SubjectInput:
    kind: str
    external_id: str
    # Only the fields the report carried; a report that omits the text does
    # not erase the latest snapshot. Keys are Subject column names.
    fields: dict = field(default_factory=dict)
    author_external_id: str | None = None
    author_display_name: str | None = None
    # The subject object exactly as received, kept on the report as evidence.
    as_received: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ReportInput:
    subject: SubjectInput
    policy: Policy
    reporter_kind: str
    reporter_external_id: str = ""
    claimed_reporter_kind: str = ""  # set by trust.intake when the registry did not confirm the claimed kind
    description: str = ""
    jurisdiction: tuple = ()
    classifier_score: float | None = None
    idempotency_key: str | None = None
    fingerprint: str = ""
    # G4: identifiers (raw, held only while filing: the signals layer keys them) and media hashes.
    signals: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class FileResult:
    """What filing a report produced; `body` is the stored response."""

    status: int  # 201 opened a case, 200 joined one
    body: dict
    replayed: bool = False

    @property
    def case_id(self):
        return self.body["case"]["id"]


def _db(value, model=Subject):
    """A UUID as this database stores it (SQLite has no native uuid type)."""
    return model._meta.pk.get_db_prep_value(value, connection)


def _from_db_uuid(value):
    import uuid

    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _sql_value(column, value):
    if column in _JSON_COLUMNS:
        return json.dumps(value, ensure_ascii=False)
    return value


def upsert_subjects(*, source, kind, rows, now):
    """Inserts or updates subjects of one kind in one statement.

    `rows` is a list of (external_id, fields) with distinct external ids, all
    carrying the same set of optional fields. Returns {external_id: (id,
    metadata, created)}. Rows are locked until the transaction ends; callers
    pass them sorted so that concurrent writers lock in the same order.
    """
    if not rows:
        return {}
    provided = [name for name in SUBJECT_OPTIONAL_FIELDS if name in rows[0][1]]
    columns = ["id", "source_id", "kind", "external_id", *provided, "created_at", "updated_at"]
    defaults = {"url": "", "display_name": "", "latest_text": "", "latest_media": "[]", "language": "", "metadata": "{}"}
    insert_columns = columns + [name for name in defaults if name not in provided]
    params, tuples, new_ids = [], [], {}
    db_now = connection.ops.adapt_datetimefield_value(now)
    source_id = _db(source.pk, Source)
    for external_id, fields in rows:
        new_id = uuid7()
        new_ids[external_id] = new_id
        values = [_db(new_id), source_id, kind, external_id]
        values += [_sql_value(name, fields[name]) for name in provided]
        values += [db_now, db_now]
        values += [defaults[name] for name in defaults if name not in provided]
        params += values
        tuples.append("(" + ", ".join(["%s"] * len(values)) + ")")
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in [*provided, "updated_at"])
    sql = (
        f"INSERT INTO cases_subject ({', '.join(insert_columns)}) VALUES {', '.join(tuples)} "
        f"ON CONFLICT (source_id, kind, external_id) DO UPDATE SET {updates} "
        f"RETURNING id, external_id, metadata"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result = {}
        for row_id, external_id, metadata in cursor.fetchall():
            row_id = _from_db_uuid(row_id)
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            result[external_id] = (row_id, metadata, row_id == new_ids[external_id])
    return result


def _subject_fields_with_author(subject_input, author_id):
    fields = dict(subject_input.fields)
    if author_id is not None:
        fields["author_id"] = _db(author_id)
    return fields


def _existing_report(*, source, idempotency_key):
    return (
        Report.objects.filter(source=source, idempotency_key=idempotency_key)
        .only("id", "request_fingerprint", "response")
        .first()
    )


def replay_or_conflict(existing, fingerprint):
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request body; "
            "use a new key for a different report"
        )
    stored = existing.response
    return FileResult(status=stored["status"], body=stored["body"], replayed=True)


@dataclass(frozen=True)
class ReportVerdict:
    """What the signals layer says about one report (IntakeHooks.report_signals):
    the weight its reporter adds to the case, the damping of the reporters'
    priority points and a bonus (G4, docs/rules.md), and whether the report
    counts towards re-opening a decided case."""

    reporter_weight: float
    reporter_damping: float = 1.0
    priority_bonus: int = 0
    discounted: bool = False
    # Named signals the case shows (signals.intake.FLAGS); routing rules can require one.
    flags: tuple = ()


def _plain_verdict(item):
    return ReportVerdict(reporter_weight=REPORTER_WEIGHTS[item.reporter_kind])


class IntakeHooks:
    """What the layer above (reviews) does inside the intake transaction:
    route a newly opened case, and follow a priority change. The defaults do
    nothing, so cases can be filed without a workflow engine."""

    def case_opened(self, *, case_id, policy_id, queue_id, jurisdictions, priority, opened_at, reporter_kind,
                    signal_flags=()):
        return {}

    def cases_opened(self, many):
        """Batch form: `many` is a list of case_opened keyword dicts; returns their results in order."""
        return [self.case_opened(**kwargs) for kwargs in many]

    def priority_changed(self, *, case_id, priority):
        return None

    def report_signals(self, *, source, api_client_id, subject_id, author_id, item, now):
        """G4 signals of one report, before its case is found or opened (the
        subject and author rows are locked). Returns a ReportVerdict, or None
        for the plain weights."""
        return None

    def case_rerouted(self, *, case_id, policy_id, queue_id, jurisdictions, priority, now, reporter_kind):
        """An open case got a report more severe than any before: move it to
        the workflow that policy routes to, if that is another one. Returns
        audit data when it moved the case, None when it left it where it is."""
        return None

    def case_reopened(self, *, case_id, policy_id, queue_id, jurisdictions, priority, now, reporter_kind, reasons):
        """A decided case re-opens: start a new review round. Returns audit data."""
        return {}


NO_HOOKS = IntakeHooks()


def report_file(*, source, api_client_id, actor, item, now=None, hooks=NO_HOOKS):
    """Files one report: upserts its subject (and author), joins the open case
    for the subject or opens one, stores the report with its evidence and
    records one audit event; all in the caller's transaction or a new one.

    Requires a validated ReportInput. With an idempotency key already used,
    returns the original result (same body) or raises IdempotencyConflict
    (different body) and writes nothing. A concurrent duplicate key surfaces
    as an IntegrityError that the caller retries (see reviews.intake).
    """
    now = now or timezone.now()
    # No savepoint: the caller's transaction (reviews.intake retries it whole) is the unit.
    with transaction.atomic(savepoint=False):
        if item.idempotency_key is not None:
            existing = _existing_report(source=source, idempotency_key=item.idempotency_key)
            if existing is not None:
                return replay_or_conflict(existing, item.fingerprint)

        subject_in = item.subject
        author_id = None
        if subject_in.author_external_id is not None and subject_in.kind == SubjectKind.CONTENT:
            author_fields = {}
            if subject_in.author_display_name is not None:
                author_fields["display_name"] = subject_in.author_display_name
            author = upsert_subjects(
                source=source, kind=SubjectKind.ACCOUNT, rows=[(subject_in.author_external_id, author_fields)], now=now
            )
            author_id = author[subject_in.author_external_id][0]
        subject_id, metadata, subject_created = upsert_subjects(
            source=source, kind=subject_in.kind,
            rows=[(subject_in.external_id, _subject_fields_with_author(subject_in, author_id))], now=now,
        )[subject_in.external_id]

        # G4 signals: one call into the layer above (reputation, brigading, linked accounts, hash lists).
        verdict = hooks.report_signals(source=source, api_client_id=api_client_id, subject_id=subject_id,
                                       author_id=author_id, item=item, now=now) or _plain_verdict(item)
        reach = reach_of(metadata)
        opened, case = _find_or_open_case(
            source=source, subject_id=subject_id, subject_created=subject_created, policy=item.policy,
            verdict=verdict, classifier_score=item.classifier_score, reach=reach, now=now,
        )
        if not opened:
            result, _case = _file_into_case(source=source, api_client_id=api_client_id, actor=actor, item=item,
                                            subject_id=subject_id, case=case, reach=reach, now=now, hooks=hooks,
                                            verdict=verdict)
            return result

        report_id = uuid7()
        body = {
            "report_id": str(report_id),
            "case": {
                "id": str(case["id"]), "state": case["state"], "priority": case["priority"],
                "report_count": case["report_count"],
            },
            "deduplicated": False,
            "effect": EFFECT_OPENED,
        }
        status = 201
        _save_report(report_id=report_id, case_id=case["id"], subject_id=subject_id, source=source,
                     api_client_id=api_client_id, item=item, now=now, status=status, body=body,
                     discounted=verdict.discounted)
        routing = hooks.case_opened(case_id=case["id"], policy_id=item.policy.pk, queue_id=case["queue_id"],
                                    jurisdictions=item.jurisdiction, priority=case["priority"], opened_at=now,
                                    reporter_kind=item.reporter_kind, signal_flags=verdict.flags)
        audit.record(
            stream=case_stream(case["id"]), new_stream=True, action="case.opened", actor=actor,
            target_type="case", target_id=case["id"],
            data={
                "report_id": str(report_id), "subject_id": str(subject_id), "policy": item.policy.code,
                "reporter_kind": item.reporter_kind, "queue_id": case["queue_id"], "priority": case["priority"],
                "previous_case_id": str(case["previous_case_id"]) if case["previous_case_id"] else None,
                **routing,
            },
        )
    return FileResult(status=status, body=body)


# What a report did (the `effect` of the response body).
EFFECT_OPENED = "opened_case"
EFFECT_JOINED = "joined_case"
EFFECT_REROUTED = "rerouted_case"
EFFECT_REOPENED = "reopened_review"
EFFECT_POST_DECISION = "post_decision"


def _save_report(*, report_id, case_id, subject_id, source, api_client_id, item, now, status, body, discounted=False):
    Report(
        id=report_id, case_id=case_id, subject_id=subject_id, source=source, api_client_id=api_client_id,
        reporter_kind=item.reporter_kind, reporter_external_id=item.reporter_external_id,
        claimed_reporter_kind=item.claimed_reporter_kind,
        policy=item.policy, description=item.description, jurisdiction=list(item.jurisdiction),
        classifier_score=item.classifier_score, snapshot=item.subject.as_received, received_at=now,
        idempotency_key=item.idempotency_key, request_fingerprint=item.fingerprint,
        response={"status": status, "body": body} if item.idempotency_key is not None else None,
        discounted=discounted,
    ).save(force_insert=True)


def _routing_policy(*, case_id, item, max_severity):
    """The policy a new round is routed by: the most severe reported on the
    case (the new report's when it is the most severe)."""
    if item.policy.severity >= max_severity:
        return item.policy
    policy_id = (Report.objects.filter(case_id=case_id).order_by("-policy__severity", "received_at", "id")
                 .values_list("policy_id", flat=True).first())
    return Policy.objects.get(pk=policy_id) if policy_id is not None else item.policy


def _file_into_case(*, source, api_client_id, actor, item, subject_id, case, reach, now, hooks, verdict=None):
    """Files one report into an existing case whose row the caller holds
    locked (the intake statement's ON CONFLICT DO UPDATE): joins a case under
    review (re-routing it when the report is more severe than any before),
    or applies the re-review rules to a decided one. Returns (FileResult,
    the case as it is now)."""
    verdict = verdict or _plain_verdict(item)
    before = dict(case)
    state = case["state"]
    reasons, new_reporter, effect = [], None, EFFECT_JOINED
    if state == CaseState.DECIDED:
        settings_ = rereview_settings_for(item.policy)
        facts = judge_after_decision(case_id=case["id"], decided_at=case["decided_at"],
                                     reporter_kind=item.reporter_kind, reporter_external_id=item.reporter_external_id,
                                     settings=settings_, now=now, discounted=verdict.discounted)
        new_reporter = not facts.reporter_is_known
        reasons = reopen_reasons(settings=settings_, report_severity=item.policy.severity,
                                 decided_severity=case["decided_severity"], reporter_kind=item.reporter_kind,
                                 facts=facts, changed=content_changed(case["decided_content_hash"], item.subject.fields))
        effect = EFFECT_REOPENED if reasons else EFFECT_POST_DECISION
    case = _join_counts(case=case, item=item, reach=reach, new_reporter=new_reporter, verdict=verdict)
    updates, routing = {}, None
    if effect == EFFECT_REOPENED:
        policy = _routing_policy(case_id=case["id"], item=item, max_severity=case["max_severity"])
        queue_id = queue_for_policy(policy).pk if item.policy.severity > before["max_severity"] else case["queue_id"]
        routing = hooks.case_reopened(case_id=case["id"], policy_id=policy.pk, queue_id=queue_id,
                                      jurisdictions=item.jurisdiction, priority=case["priority"], now=now,
                                      reporter_kind=item.reporter_kind, reasons=reasons)
        check_transition(state, CaseState.OPEN)
        updates = dict(state=CaseState.OPEN, queue_id=queue_id, at_risk_since=None, reopen_count=F("reopen_count") + 1,
                       post_decision_report_count=0)
    elif effect == EFFECT_POST_DECISION:
        updates = dict(post_decision_report_count=F("post_decision_report_count") + 1)
    elif state in REVIEWING_STATES and item.policy.severity > before["max_severity"]:
        queue_id = queue_for_policy(item.policy).pk
        routing = hooks.case_rerouted(case_id=case["id"], policy_id=item.policy.pk, queue_id=queue_id,
                                      jurisdictions=item.jurisdiction, priority=case["priority"], now=now,
                                      reporter_kind=item.reporter_kind)
        if routing is not None:
            effect = EFFECT_REROUTED
            target = CaseState.OPEN
            check_transition(state, target)
            updates = dict(state=target, queue_id=queue_id, at_risk_since=None)
    if "state" in updates:
        case["state"] = updates["state"]
        case["queue_id"] = updates["queue_id"]
    Case.objects.filter(pk=case["id"]).update(
        report_count=F("report_count") + 1, reporter_count=case["reporter_count"],
        reporter_weight=case["reporter_weight"], max_severity=case["max_severity"],
        max_classifier_score=case["max_classifier_score"], priority=case["priority"], updated_at=now, **updates,
    )

    report_id = uuid7()
    body = {
        "report_id": str(report_id),
        "case": {"id": str(case["id"]), "state": case["state"], "priority": case["priority"],
                 "report_count": case["report_count"]},
        "deduplicated": True,
        "effect": effect,
    }
    status = 200
    _save_report(report_id=report_id, case_id=case["id"], subject_id=subject_id, source=source,
                 api_client_id=api_client_id, item=item, now=now, status=status, body=body,
                 discounted=verdict.discounted)
    if case["priority"] != before["priority"] and effect not in (EFFECT_REOPENED, EFFECT_REROUTED):
        hooks.priority_changed(case_id=case["id"], priority=case["priority"])
    data = {"report_id": str(report_id), "policy": item.policy.code, "reporter_kind": item.reporter_kind,
            "report_count": case["report_count"], "priority": [before["priority"], case["priority"]]}
    if effect == EFFECT_POST_DECISION:
        data["post_decision"] = True
    audit.record(stream=case_stream(case["id"]), action="report.filed", actor=actor, target_type="case",
                 target_id=case["id"], data=data)
    if effect == EFFECT_REOPENED:
        audit.record(stream=case_stream(case["id"]), action="case.state_changed", actor=actor, target_type="case",
                     target_id=case["id"], data={
                         "from": state, "to": CaseState.OPEN, "trigger": "rereview", "reasons": reasons,
                         "report_id": str(report_id), "policy": item.policy.code, "queue_id": case["queue_id"],
                         "priority": case["priority"], **(routing or {})})
    elif effect == EFFECT_REROUTED:
        audit.record(stream=case_stream(case["id"]), action="case.routed", actor=actor, target_type="case",
                     target_id=case["id"], data={
                         "from": state, "to": case["state"], "trigger": "rerouted", "report_id": str(report_id),
                         "policy": item.policy.code, "queue_id": case["queue_id"], "priority": case["priority"],
                         **routing})
    return FileResult(status=status, body=body), case


_CASE_RETURNING = (
    "id, state, priority, report_count, reporter_count, max_severity, reporter_weight, "
    "max_classifier_score, queue_id, previous_case_id, decided_at, decided_severity, decided_content_hash"
)


def _case_row(row):
    keys = [k.strip() for k in _CASE_RETURNING.split(",")]
    case = dict(zip(keys, row))
    case["id"] = _from_db_uuid(case["id"])
    if case["previous_case_id"] is not None:
        case["previous_case_id"] = _from_db_uuid(case["previous_case_id"])
    if isinstance(case["decided_at"], str):  # SQLite
        case["decided_at"] = Case._meta.get_field("decided_at").to_python(case["decided_at"])
        if timezone.is_naive(case["decided_at"]):
            case["decided_at"] = timezone.make_aware(case["decided_at"], timezone.utc)
    return case


def _find_or_open_case(*, source, subject_id, subject_created, policy, verdict, classifier_score, reach, now):
    """One statement: opens a case for the subject, or (on the partial unique
    index of open cases) locks and returns the open one. Returns (opened, case)."""
    new_id = uuid7()
    reporter_weight = verdict.reporter_weight
    priority = case_priority(
        max_severity=policy.severity, reporter_weight=reporter_weight, max_classifier_score=classifier_score, reach=reach,
        reporter_damping=verdict.reporter_damping, bonus=verdict.priority_bonus,
    )
    queue = queue_for_policy(policy)
    previous = "NULL" if subject_created else (
        "(SELECT p.id FROM cases_case p WHERE p.subject_id = %s AND p.closed_at IS NOT NULL "
        "ORDER BY p.closed_at DESC LIMIT 1)"
    )
    db_now = connection.ops.adapt_datetimefield_value(now)
    params = [_db(new_id, Case), _db(subject_id), _db(source.pk, Source)]
    if not subject_created:
        params.append(_db(subject_id))
    params += [CaseState.OPEN, priority, queue.pk, policy.severity, reporter_weight, classifier_score, db_now, db_now]
    sql = (
        "INSERT INTO cases_case (id, subject_id, source_id, previous_case_id, state, priority, queue_id, "
        "report_count, reporter_count, max_severity, reporter_weight, max_classifier_score, opened_at, updated_at) "
        f"VALUES (%s, %s, %s, {previous}, %s, %s, %s, 1, 1, %s, %s, %s, %s, %s) "
        "ON CONFLICT (subject_id) WHERE closed_at IS NULL DO UPDATE SET updated_at = EXCLUDED.updated_at "
        f"RETURNING {_CASE_RETURNING}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        case = _case_row(cursor.fetchone())
    return case["id"] == new_id, case


def _join_counts(*, case, item, reach, new_reporter=None, verdict=None):
    """One more report on a locked case: counts, aggregates, priority (the
    caller writes them). `new_reporter` None: looked up."""
    verdict = verdict or _plain_verdict(item)
    if new_reporter is None:
        new_reporter = not Report.objects.filter(
            case_id=case["id"], reporter_kind=item.reporter_kind, reporter_external_id=item.reporter_external_id
        ).exists()
    case = dict(case)
    case["report_count"] += 1
    if new_reporter:
        case["reporter_count"] += 1
        case["reporter_weight"] += verdict.reporter_weight
    case["max_severity"] = max(case["max_severity"], item.policy.severity)
    if item.classifier_score is not None:
        case["max_classifier_score"] = max(case["max_classifier_score"] or 0.0, item.classifier_score)
    case["priority"] = case_priority(
        max_severity=case["max_severity"], reporter_weight=case["reporter_weight"],
        max_classifier_score=case["max_classifier_score"], reach=reach,
        reporter_damping=verdict.reporter_damping, bonus=verdict.priority_bonus,
    )
    return case


def case_change_state(*, case_id, to_state, actor, reason="", trigger=""):
    """Moves a case to `to_state` if the transition table allows it.

    Locks the case; a repeated call that finds the case already there returns
    it unchanged and writes nothing. Raises TransitionNotAllowed otherwise."""
    with transaction.atomic(), audit.batch():
        case = Case.objects.select_for_update().get(pk=case_id)
        if not check_transition(case.state, to_state):
            return case
        before = case.state
        now = timezone.now()
        case.state = to_state
        case.updated_at = now
        fields = ["state", "updated_at"]
        if to_state == CaseState.CLOSED:
            case.closed_at = now
            fields.append("closed_at")
        if to_state == CaseState.DECIDED:
            # What the re-review rules compare later reports with (cases/rereview.py).
            text, media = Subject.objects.filter(pk=case.subject_id).values_list("latest_text", "latest_media").get()
            case.decided_at = now
            case.decided_severity = case.max_severity
            case.decided_content_hash = content_hash(text, media)
            case.post_decision_report_count = 0
            fields += ["decided_at", "decided_severity", "decided_content_hash", "post_decision_report_count"]
        case.save(update_fields=fields)
        audit.record(
            stream=case_stream(case.pk), action="case.state_changed", actor=actor, target_type="case",
            target_id=case.pk, data={"from": before, "to": to_state, "reason": reason, "trigger": trigger},
        )
        return case


def case_close(*, case_id, actor, reason="", trigger="close"):
    return case_change_state(case_id=case_id, to_state=CaseState.CLOSED, actor=actor, reason=reason, trigger=trigger)


_POLICY_FIELDS = ("code", "name", "description", "severity", "dsa_category", "active")
_QUEUE_FIELDS = ("slug", "name", "description", "is_default")


def field_changes(before, after, names):
    """{field: [before, after]} for the fields that differ: the audit diff of a configuration change."""
    return {n: [before.get(n), after.get(n)] for n in names if before.get(n) != after.get(n)}


def policy_save(*, policy, actor):
    """Creates or updates a policy (from the admin or a command), audited with
    a before/after diff on the configuration stream."""
    with transaction.atomic():
        before = {}
        if policy.pk:
            old = Policy.objects.select_for_update().filter(pk=policy.pk).values(*_POLICY_FIELDS).first()
            before = old or {}
        policy.full_clean()
        policy.save()
        after = {n: getattr(policy, n) for n in _POLICY_FIELDS}
        changes = field_changes(before, after, _POLICY_FIELDS)
        transaction.on_commit(invalidate_configuration_cache)
        if changes:
            audit.record(stream=CONFIG_STREAM, action="policy.changed", actor=actor, target_type="policy",
                         target_id=policy.code, data={"changes": changes, "created": not before})
        return policy


def queue_save(*, queue, actor, policies=None, restricted_to=None):
    """Creates or updates a queue and, when given, the policies that feed it
    and the groups it is restricted to (cases.visibility; an empty list
    lifts the restriction). Audits "queue.changed"; a change of the
    restriction is recorded as {"restricted_to": [before, after]} by group
    name in the changes."""
    with transaction.atomic():
        before = {}
        if queue.pk:
            before = Queue.objects.select_for_update().filter(pk=queue.pk).values(*_QUEUE_FIELDS).first() or {}
        queue.full_clean()
        queue.save()
        data = {"changes": field_changes(before, {n: getattr(queue, n) for n in _QUEUE_FIELDS}, _QUEUE_FIELDS),
                "created": not before}
        transaction.on_commit(invalidate_configuration_cache)
        if policies is not None:
            queue.policies.set(policies)
            data["policies"] = sorted(p.code for p in policies)
        if restricted_to is not None:
            old_groups = sorted(queue.restricted_to.values_list("name", flat=True)) if before else []
            queue.restricted_to.set(restricted_to)
            new_groups = sorted(g.name for g in restricted_to)
            if old_groups != new_groups:
                data["changes"]["restricted_to"] = [old_groups, new_groups]
            data["restricted_to"] = new_groups
        audit.record(stream=CONFIG_STREAM, action="queue.changed", actor=actor, target_type="queue",
                     target_id=queue.slug, data=data)
        return queue


_RULE_FIELDS = ("policy", "on_more_severe", "on_trusted_flagger", "on_content_change", "new_reporters", "window_hours")


def _rule_values(rule):
    return {"policy": rule.policy.code if rule.policy_id else None,
            **{n: getattr(rule, n) for n in _RULE_FIELDS if n != "policy"}}


def rereview_rule_save(*, rule: RereviewRule, actor: Actor) -> RereviewRule:
    """Creates or updates a re-review rule (admin), validated, audited with a
    before/after diff on the configuration stream; intake sees it within
    the configuration cache's few seconds."""
    with transaction.atomic():
        before = {}
        if rule.pk:
            old = RereviewRule.objects.select_for_update(of=("self",)).select_related("policy").filter(pk=rule.pk).first()
            before = _rule_values(old) if old else {}
        rule.full_clean()
        rule.save()
        changes = field_changes(before, _rule_values(rule), _RULE_FIELDS)
        transaction.on_commit(invalidate_configuration_cache)
        if changes:
            audit.record(stream=CONFIG_STREAM, action="routing_rule.changed", actor=actor, target_type="rereview_rule",
                         target_id=rule.policy.code if rule.policy_id else "default",
                         data={"rule": "rereview", "changes": changes, "created": not before})
        return rule


def rereview_rule_delete(*, rule: RereviewRule, actor: Actor) -> None:
    """Removes a rule: its policy falls back to the default rule (audited)."""
    with transaction.atomic():
        values = _rule_values(rule)
        RereviewRule.objects.filter(pk=rule.pk).delete()
        transaction.on_commit(invalidate_configuration_cache)
        audit.record(stream=CONFIG_STREAM, action="routing_rule.changed", actor=actor, target_type="rereview_rule",
                     target_id=values["policy"] or "default", data={"rule": "rereview", "deleted": values})


def source_get_or_create(*, name, actor):
    with transaction.atomic():
        source, created = Source.objects.get_or_create(name=name)
        return source


SYSTEM_ACTOR = Actor.system("quorum")


def reports_file_batch(*, source, api_client_id, actor, items, now=None, hooks=NO_HOOKS):
    """Files many validated reports in one transaction with bulk statements.

    `items` is a list of ReportInput. Returns a list, in the same order, of
    FileResult or IdempotencyConflict. Same semantics as report_file item by
    item (idempotency, one open case per subject, counts, priority, one audit
    event per report), in about ten statements whatever the batch size.
    """
    from audit.services import audit_record_many

    now = now or timezone.now()
    results = [None] * len(items)
    with transaction.atomic(savepoint=False):
        # 1. Idempotency: earlier requests, then repeats inside this batch.
        keys = sorted({it.idempotency_key for it in items if it.idempotency_key is not None})
        existing = {}
        if keys:
            for report in Report.objects.filter(source=source, idempotency_key__in=keys).only(
                "id", "idempotency_key", "request_fingerprint", "response"
            ):
                existing[report.idempotency_key] = report
        first_with_key, todo = {}, []
        for index, it in enumerate(items):
            key = it.idempotency_key
            if key is not None and key in existing:
                try:
                    results[index] = replay_or_conflict(existing[key], it.fingerprint)
                except IdempotencyConflict as exc:
                    results[index] = exc
                continue
            if key is not None and key in first_with_key:
                continue  # resolved after the first item with this key is filed
            if key is not None:
                first_with_key[key] = index
            todo.append(index)
        if not todo:
            return _resolve_repeats(items, results, first_with_key)

        # 2. Subjects: accounts first (authors and account subjects), then content.
        accounts, contents = {}, {}
        for index in todo:
            subject = items[index].subject
            if subject.kind == SubjectKind.CONTENT and subject.author_external_id is not None:
                fields = accounts.setdefault(subject.author_external_id, {})
                if subject.author_display_name is not None:
                    fields["display_name"] = subject.author_display_name
            target = accounts if subject.kind == SubjectKind.ACCOUNT else contents
            target.setdefault(subject.external_id, {}).update(subject.fields)
        item_metadata = _metadata_as_of_each_item(source, items, todo)
        subject_ids = {}
        account_rows = _upsert_grouped(source, SubjectKind.ACCOUNT, accounts, now)
        subject_ids.update({(SubjectKind.ACCOUNT, k): v for k, v in account_rows.items()})
        for index in todo:
            subject = items[index].subject
            if subject.kind == SubjectKind.CONTENT and subject.author_external_id is not None:
                contents[subject.external_id]["author_id"] = _db(account_rows[subject.author_external_id][0])
        content_rows = _upsert_grouped(source, SubjectKind.CONTENT, contents, now)
        subject_ids.update({(SubjectKind.CONTENT, k): v for k, v in content_rows.items()})

        # 3. Cases: find or open one per subject in one statement.
        first_item = {}
        for index in todo:
            subject = items[index].subject
            first_item.setdefault(subject_ids[(subject.kind, subject.external_id)][0], index)
        # G4 signals, item by item in order (one statement each), before the cases are found or opened.
        verdicts = {}
        for index in todo:
            subject = items[index].subject
            author_id = (account_rows[subject.author_external_id][0]
                         if subject.kind == SubjectKind.CONTENT and subject.author_external_id is not None else None)
            verdicts[index] = hooks.report_signals(
                source=source, api_client_id=api_client_id, subject_id=subject_ids[(subject.kind, subject.external_id)][0],
                author_id=author_id, item=items[index], now=now) or _plain_verdict(items[index])
        cases = _find_or_open_cases(source=source, first_item=first_item, items=items, subject_ids=subject_ids, now=now,
                                    item_metadata=item_metadata, verdicts=verdicts)

        # 4. Which reporters each joined case already has.
        joined_ids = [c["id"] for c in cases.values() if not c["opened"]]
        known_reporters = set()
        if joined_ids:
            external_ids = {items[i].reporter_external_id for i in todo}
            known_reporters = set(
                Report.objects.filter(case_id__in=joined_ids, reporter_external_id__in=external_ids)
                .values_list("case_id", "reporter_kind", "reporter_external_id")
            )

        # Cases that a report may move (a decided case and the re-review rules; an open case and a more severe
        # policy) take their items one by one, as single reports would; the rest are written in bulk.
        # The most severe policy among a subject's items routes a case this batch opens.
        most_severe, special = {}, set()
        for index in todo:
            it = items[index]
            subject_id = subject_ids[(it.subject.kind, it.subject.external_id)][0]
            if subject_id not in most_severe or it.policy.severity > most_severe[subject_id].severity:
                most_severe[subject_id] = it.policy
        for subject_id, case in cases.items():
            if case["opened"]:
                continue
            if case["state"] == CaseState.DECIDED or (
                    case["state"] in REVIEWING_STATES and most_severe[subject_id].severity > case["max_severity"]):
                special.add(subject_id)

        # 5. Apply the items in order.
        reports, audit_entries, touched, to_route = [], [], {}, []
        for index in todo:
            it = items[index]
            subject_id, metadata, _created = subject_ids[(it.subject.kind, it.subject.external_id)]
            metadata = item_metadata.get(index, metadata)
            case = cases[subject_id]
            if subject_id in special:
                results[index], joined = _file_into_case(
                    source=source, api_client_id=api_client_id, actor=actor, item=it, subject_id=subject_id,
                    case=case, reach=reach_of(metadata), now=now, hooks=hooks, verdict=verdicts[index])
                cases[subject_id] = {**joined, "opened": False}
                continue
            opened_by_this = case["opened"] and first_item[subject_id] == index
            priority_before = case["priority"]
            if opened_by_this:
                known_reporters.add((case["id"], it.reporter_kind, it.reporter_external_id))
            else:
                case["report_count"] += 1
                reporter = (case["id"], it.reporter_kind, it.reporter_external_id)
                if reporter not in known_reporters:
                    known_reporters.add(reporter)
                    case["reporter_count"] += 1
                    case["reporter_weight"] += verdicts[index].reporter_weight
                case["max_severity"] = max(case["max_severity"], it.policy.severity)
                if it.classifier_score is not None:
                    case["max_classifier_score"] = max(case["max_classifier_score"] or 0.0, it.classifier_score)
                case["priority"] = case_priority(
                    max_severity=case["max_severity"], reporter_weight=case["reporter_weight"],
                    max_classifier_score=case["max_classifier_score"], reach=reach_of(metadata),
                    reporter_damping=verdicts[index].reporter_damping, bonus=verdicts[index].priority_bonus,
                )
                touched[case["id"]] = case
            report_id = uuid7()
            body = {
                "report_id": str(report_id),
                "case": {"id": str(case["id"]), "state": case["state"], "priority": case["priority"],
                         "report_count": case["report_count"]},
                "deduplicated": not opened_by_this,
                "effect": EFFECT_OPENED if opened_by_this else EFFECT_JOINED,
            }
            status = 201 if opened_by_this else 200
            results[index] = FileResult(status=status, body=body)
            reports.append(Report(
                id=report_id, case_id=case["id"], subject_id=subject_id, source=source, api_client_id=api_client_id,
                reporter_kind=it.reporter_kind, reporter_external_id=it.reporter_external_id, policy=it.policy,
                claimed_reporter_kind=it.claimed_reporter_kind,
                description=it.description, jurisdiction=list(it.jurisdiction), classifier_score=it.classifier_score,
                snapshot=it.subject.as_received, received_at=now, idempotency_key=it.idempotency_key,
                request_fingerprint=it.fingerprint,
                response={"status": status, "body": body} if it.idempotency_key is not None else None,
                discounted=verdicts[index].discounted,
            ))
            if opened_by_this:
                opened_data = {
                    "report_id": str(report_id), "subject_id": str(subject_id), "policy": it.policy.code,
                    "reporter_kind": it.reporter_kind, "queue_id": case["queue_id"], "priority": priority_before,
                    "previous_case_id": str(case["previous_case_id"]) if case["previous_case_id"] else None,
                }
                # routing (below, for all opened cases at once) adds its result to this event's data
                to_route.append((dict(case_id=case["id"], policy_id=most_severe[subject_id].pk, queue_id=case["queue_id"],
                                      jurisdictions=it.jurisdiction, priority=priority_before, opened_at=now,
                                      reporter_kind=it.reporter_kind, signal_flags=verdicts[index].flags), opened_data))
                audit_entries.append(dict(
                    stream=case_stream(case["id"]), new_stream=True, action="case.opened", target_type="case",
                    target_id=case["id"], data=opened_data))
            else:
                audit_entries.append(dict(
                    stream=case_stream(case["id"]), new_stream=case["opened"], action="report.filed",
                    target_type="case", target_id=case["id"], data={
                        "report_id": str(report_id), "policy": it.policy.code, "reporter_kind": it.reporter_kind,
                        "report_count": case["report_count"], "priority": [priority_before, case["priority"]],
                    }))

        # Route the opened cases in one go; the routing data joins their case.opened events.
        for (_args, routing), data in zip(to_route, hooks.cases_opened([args for args, _ in to_route]), strict=True):
            routing.update(data)

        # 6. Write: case counters, reports, audit events.
        if touched:
            rows = sorted(
                (case["id"], case["report_count"], case["reporter_count"], case["reporter_weight"],
                 case["max_severity"], case["max_classifier_score"], case["priority"], now)
                for case in touched.values()
            )
            update_from_values(model=Case, key=("id", "uuid"), rows=rows, columns=[
                ("report_count", "integer"), ("reporter_count", "integer"), ("reporter_weight", "double precision"),
                ("max_severity", "smallint"), ("max_classifier_score", "double precision"), ("priority", "integer"),
                ("updated_at", "timestamptz")])
            for case in touched.values():
                hooks.priority_changed(case_id=case["id"], priority=case["priority"])
        Report.objects.bulk_create(reports)
        audit_record_many(entries=audit_entries, actor=actor)
    return _resolve_repeats(items, results, first_with_key)


def _resolve_repeats(items, results, first_with_key):
    """Items that repeat an idempotency key used earlier in the same batch."""
    for index, it in enumerate(items):
        if results[index] is not None:
            continue
        first = first_with_key[it.idempotency_key]
        original = results[first]
        if isinstance(original, FileResult) and items[first].fingerprint == it.fingerprint:
            results[index] = FileResult(status=original.status, body=original.body, replayed=True)
        else:
            results[index] = IdempotencyConflict(
                "this idempotency_key was already used in this batch with a different report"
            )
    return results


def _upsert_grouped(source, kind, rows_by_external_id, now):
    """Upserts subjects of one kind, one statement per set of provided fields."""
    groups = {}
    for external_id in sorted(rows_by_external_id):
        fields = rows_by_external_id[external_id]
        groups.setdefault(tuple(sorted(fields)), []).append((external_id, fields))
    result = {}
    for _names, rows in sorted(groups.items()):
        result.update(upsert_subjects(source=source, kind=kind, rows=rows, now=now))
    return result


def _metadata_as_of_each_item(source, items, todo):
    """{item index: the subject metadata as that item saw it}, for batches in
    which some item changes a subject's metadata (so each item's priority is
    what a single request at that point would have produced). Empty when no
    item carries metadata: the stored metadata then holds for all."""
    if not any("metadata" in items[i].subject.fields for i in todo):
        return {}
    keys = {(items[i].subject.kind, items[i].subject.external_id) for i in todo}
    current = {}
    for kind in {k for k, _ in keys}:
        rows = Subject.objects.filter(source=source, kind=kind, external_id__in=[e for k, e in keys if k == kind])
        for external_id, metadata in rows.values_list("external_id", "metadata"):
            current[(kind, external_id)] = metadata
    seen = {}
    for index in todo:
        subject = items[index].subject
        key = (subject.kind, subject.external_id)
        if "metadata" in subject.fields:
            current[key] = subject.fields["metadata"]
        seen[index] = current.get(key, {})
    return seen


def _find_or_open_cases(*, source, first_item, items, subject_ids, now, item_metadata, verdicts):
    """Multi-row version of _find_or_open_case. Returns {subject_id: case dict
    with an extra "opened" flag}."""
    by_subject = {v[0]: v for v in subject_ids.values()}
    proposals, params, tuples = {}, [], []
    db_now = connection.ops.adapt_datetimefield_value(now)
    for subject_id in sorted(first_item):
        it = items[first_item[subject_id]]
        _sid, metadata, created = by_subject[subject_id]
        metadata = item_metadata.get(first_item[subject_id], metadata)
        new_id = uuid7()
        proposals[subject_id] = new_id
        verdict = verdicts[first_item[subject_id]]
        weight = verdict.reporter_weight
        priority = case_priority(max_severity=it.policy.severity, reporter_weight=weight,
                                 max_classifier_score=it.classifier_score, reach=reach_of(metadata),
                                 reporter_damping=verdict.reporter_damping, bonus=verdict.priority_bonus)
        previous = "NULL" if created else (
            "(SELECT p.id FROM cases_case p WHERE p.subject_id = %s AND p.closed_at IS NOT NULL "
            "ORDER BY p.closed_at DESC LIMIT 1)"
        )
        params += [_db(new_id, Case), _db(subject_id), _db(source.pk, Source)]
        if not created:
            params.append(_db(subject_id))
        params += [CaseState.OPEN, priority, queue_for_policy(it.policy).pk, it.policy.severity, weight,
                   it.classifier_score, db_now, db_now]
        tuples.append(f"(%s, %s, %s, {previous}, %s, %s, %s, 1, 1, %s, %s, %s, %s, %s)")
    sql = (
        "INSERT INTO cases_case (id, subject_id, source_id, previous_case_id, state, priority, queue_id, "
        "report_count, reporter_count, max_severity, reporter_weight, max_classifier_score, opened_at, updated_at) "
        f"VALUES {', '.join(tuples)} "
        "ON CONFLICT (subject_id) WHERE closed_at IS NULL DO UPDATE SET updated_at = EXCLUDED.updated_at "
        f"RETURNING subject_id, {_CASE_RETURNING}"
    )
    cases = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            subject_id = _from_db_uuid(row[0])
            case = _case_row(row[1:])
            case["opened"] = case["id"] == proposals[subject_id]
            cases[subject_id] = case
    return cases


# ---- console reads that are themselves on the record (F4) ------------------------

def case_view_record(*, case_id, user):
    """Records that `user` opened the case page (`case.viewed`). Writes only
    the audit event, on the case's stream; the caller has checked that the
    case exists and that the user may read it."""
    with transaction.atomic():
        audit.record(stream=case_stream(case_id), action="case.viewed", actor=Actor.user(user),
                     target_type="case", target_id=case_id, data={})


def case_access_denied_record(*, case_id, user, path: str) -> None:
    """Records that the console refused `user` a case hidden from them
    (`case.access_denied`, with the path asked for), on the case's stream:
    the case's own record shows who tried to look. Writes only the audit
    event; the caller answers 404 as for a case that does not exist."""
    with transaction.atomic():
        audit.record(stream=case_stream(case_id), action="case.access_denied", actor=Actor.user(user),
                     target_type="case", target_id=case_id, data={"path": str(path)[:500]})


def case_media_reveal_record(*, case_id, user, index, url):
    """Records that `user` revealed one blurred media item of the case
    (`case.media_revealed`, with its position in the case page's media list
    and its URL as reported). Writes only the audit event."""
    with transaction.atomic():
        audit.record(stream=case_stream(case_id), action="case.media_revealed", actor=Actor.user(user),
                     target_type="case", target_id=case_id, data={"index": index, "url": str(url)[:2048]})
