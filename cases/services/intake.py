"""Report intake: one path for a single report and a batch (a single report
is a batch of one). Runs in the caller's transaction, locks what it changes
and records one audit event per report. See docs/ARCHITECTURE.md, "Intake
data path", and IntakeHooks for where the layer above joins in."""

import json
from dataclasses import dataclass, field, replace

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from audit.context import Actor
from audit.services import audit_record_many, case_stream
from config.sql import insert_sql, update_from_values, update_from_values_sql

from ..errors import IdempotencyConflict
from ..ids import uuid7
from ..models import Case, CaseState, Policy, Report, Source, Subject, SubjectKind
from ..priority import REPORTER_WEIGHTS, case_priority, reach_of
from ..rereview import content_changed, judge_after_decision, reopen_reasons
from ..selectors import queue_for_policy, rereview_settings_for
from ..states import REVIEWING_STATES, check_transition

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
    reporter_language: str = ""  # BCP 47; the language of the reporter's notices (dsa.notices)
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


@dataclass(frozen=True)
class IntakeGuard:
    """A condition of the layer above, checked by intake's first statement
    (the subject upsert) instead of a round trip of its own: a boolean SQL
    expression (uncorrelated, e.g. `EXISTS (SELECT …)`) and its parameters.
    When it holds, intake raises GuardTripped and the caller's transaction
    rolls back with everything the statement did; the caller then takes its
    slow path (trust.intake: a suspended reporter's notice is held)."""

    sql: str
    params: tuple = ()


class GuardTripped(Exception):
    """IntakeGuard held: nothing may be kept of this intake transaction."""


def upsert_subjects(*, source, kind, rows, now, guard: IntakeGuard | None = None):
    """Inserts or updates subjects of one kind in one statement.

    `rows` is a list of (external_id, fields) with distinct external ids, all
    carrying the same set of optional fields. Returns {external_id: (id,
    metadata, created)}. Rows are locked until the transaction ends; callers
    pass them sorted so that concurrent writers lock in the same order.
    With a `guard`, the statement also evaluates it and GuardTripped is
    raised when it holds (other databases than PostgreSQL, which cannot put
    an INSERT in a WITH, ask it in a statement of its own first).
    """
    if not rows:
        return {}
    if guard is not None and connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT ({guard.sql})", list(guard.params))
            if cursor.fetchone()[0]:
                raise GuardTripped()
        guard = None
    sql, params, new_ids = _subjects_upsert_sql(source=source, kind=kind, rows=rows, now=now)
    if guard is not None:
        sql = f"WITH s AS ({sql}) SELECT s.id, s.external_id, s.metadata, ({guard.sql}) FROM s"
        params = [*params, *guard.params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if guard is not None and any(row[3] for row in rows):
        raise GuardTripped()
    return {row[1]: _subject_row(row[0], row[2], new_ids[row[1]]) for row in rows}


def _subjects_upsert_sql(*, source, kind, rows, now):
    """(sql, params, {external_id: proposed id}) of upsert_subjects; RETURNING id, external_id, metadata."""
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
    return sql, params, new_ids


def _subject_row(row_id, metadata, proposed_id):
    """(id, metadata, created) of an upserted subject."""
    row_id = _from_db_uuid(row_id)
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return row_id, metadata, row_id == proposed_id


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
    """What the signals layer says about one report (IntakeHooks.reports_signals):
    the weight its reporter adds to the case, the damping of the reporters'
    priority points and a bonus (G4, docs/rules.md), and whether the report
    counts towards re-opening a decided case."""

    reporter_weight: float
    reporter_damping: float = 1.0
    priority_bonus: int = 0
    discounted: bool = False
    # Named signals the case shows (signals.intake.FLAGS); routing rules can require one.
    flags: tuple = ()
    # The id the report is stored under, proposed before the hook runs (the signals keep a snapshot under it).
    report_id: object = None


def _plain_verdict(item):
    return ReportVerdict(reporter_weight=REPORTER_WEIGHTS[item.reporter_kind])


class IntakeHooks:
    """What the layer above (reviews) does inside the intake transaction.
    The defaults do nothing, so cases can be filed without a workflow engine.

    In the order intake calls them, once per intake call (single reports are
    batches of one):

    1. `reports_received` — before anything is written and before any
       priority is computed: the place to recognise a reporter (a trusted
       flagger) or apply a rule that changes an item;
    2. `reports_signals` — once per call, for the items in order, after the
       subjects (and authors) are upserted and locked, before any case is
       found or opened: each item's ReportVerdict sets its weight, damping,
       bonus and `discounted`, and its flags go to `case_opened` (signal_flags);
    3. `cases_opening` (new cases; defaults to `cases_opened`) /
       `case_rerouted` / `case_reopened` / `priority_changed` — routing,
       while the case rows are locked;
    4. `reports_filed` — after every report is stored and its case filed
       (events recorded, still inside the transaction): the place for
       follow-up work; queue anything that must happen after commit with
       `transaction.on_commit`.
    """

    def reports_received(self, *, source, items: list) -> list:
        """Returns the items to file (same length and order); may replace an
        item (dataclasses.replace) but not drop one. Default: unchanged."""
        return items

    def case_opened(self, *, case_id, policy_id, queue_id, jurisdictions, priority, opened_at, reporter_kind,
                    signal_flags=()):
        return {}

    def cases_opened(self, many):
        """Batch form: `many` is a list of case_opened keyword dicts; returns their results in order."""
        return [self.case_opened(**kwargs) for kwargs in many]

    def cases_opening(self, many):
        """What intake calls: cases_opened without writing, as (results in
        order, unsaved model instances with their primary keys set). Intake
        inserts the instances in the statement that stores the reports and
        audit events, so routing a new case costs no round trip of its own.
        Default: cases_opened, which writes for itself, and nothing to insert."""
        return self.cases_opened(many), []

    def priority_changed(self, *, case_id, priority):
        return None

    def reports_signals(self, *, source, api_client_id, entries, now):
        """G4 signals of the call's reports, before their cases are found or
        opened (the subject and author rows are locked). `entries` are
        (report id, subject id, author id, item) in filing order; the report
        is stored under that id. Returns a ReportVerdict or None (the plain
        weights) per entry, in order."""
        return [None] * len(entries)

    def has_report_signals(self) -> bool:
        """Whether reports_signals is overridden: then a single report's
        subject and case cannot share one statement (the verdict, which
        sets the new case's priority, comes in between)."""
        return type(self).reports_signals is not IntakeHooks.reports_signals

    def case_rerouted(self, *, case_id, policy_id, queue_id, jurisdictions, priority, now, reporter_kind):
        """An open case got a report more severe than any before: move it to
        the workflow that policy routes to, if that is another one. Returns
        audit data when it moved the case, None when it left it where it is."""
        return None

    def case_reopened(self, *, case_id, policy_id, queue_id, jurisdictions, priority, now, reporter_kind, reasons):
        """A decided case re-opens: start a new review round. Returns audit data."""
        return {}

    def reports_filed(self, *, source, filed: list) -> None:
        """`filed` is a list of (ReportInput, FileResult), one per report
        stored by this call (replays and conflicts are not in it)."""
        return None


NO_HOOKS = IntakeHooks()


def report_file(*, source, api_client_id, actor, item, now=None, hooks=NO_HOOKS, guard: IntakeGuard | None = None):
    """Files one report: a batch of one (`reports_file_batch`), so a single
    report and a batch run the same code. Returns its FileResult; raises
    IdempotencyConflict when its key was used with a different body (and
    writes nothing). A concurrent duplicate key surfaces as an
    IntegrityError that the caller retries (see reviews.intake).
    GuardTripped: see IntakeGuard."""
    result = reports_file_batch(source=source, api_client_id=api_client_id, actor=actor, items=[item], now=now,
                                hooks=hooks, guard=guard)[0]
    if isinstance(result, IdempotencyConflict):
        raise result
    return result


# What a report did (the `effect` of the response body).
EFFECT_OPENED = "opened_case"
EFFECT_JOINED = "joined_case"
EFFECT_REROUTED = "rerouted_case"
EFFECT_REOPENED = "reopened_review"
EFFECT_POST_DECISION = "post_decision"


def _report_row(*, report_id, case_id, subject_id, source, api_client_id, item, now, status, body, discounted):
    return Report(
        id=report_id, case_id=case_id, subject_id=subject_id, source=source, api_client_id=api_client_id,
        reporter_kind=item.reporter_kind, reporter_external_id=item.reporter_external_id,
        claimed_reporter_kind=item.claimed_reporter_kind, reporter_language=item.reporter_language,
        policy=item.policy, description=item.description,
        jurisdiction=list(item.jurisdiction),
        classifier_score=item.classifier_score, snapshot=item.subject.as_received, received_at=now,
        idempotency_key=item.idempotency_key, request_fingerprint=item.fingerprint,
        response={"status": status, "body": body} if item.idempotency_key is not None else None,
        discounted=discounted,
    )


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

    report_id = verdict.report_id or uuid7()
    body = {
        "report_id": str(report_id),
        "case": {"id": str(case["id"]), "state": case["state"], "priority": case["priority"],
                 "report_count": case["report_count"]},
        "deduplicated": True,
        "effect": effect,
    }
    status = 200
    if case["priority"] != before["priority"] and effect not in (EFFECT_REOPENED, EFFECT_REROUTED):
        hooks.priority_changed(case_id=case["id"], priority=case["priority"])
    data = {"report_id": str(report_id), "policy": item.policy.code, "reporter_kind": item.reporter_kind,
            "report_count": case["report_count"], "priority": [before["priority"], case["priority"]]}
    if effect == EFFECT_POST_DECISION:
        data["post_decision"] = True
    event = dict(stream=case_stream(case["id"]), target_type="case", target_id=case["id"])
    entries = [dict(event, action="report.filed", data=data)]
    if effect == EFFECT_REOPENED:
        entries.append(dict(event, action="case.state_changed", data={
            "from": state, "to": CaseState.OPEN, "trigger": "rereview", "reasons": reasons,
            "report_id": str(report_id), "policy": item.policy.code, "queue_id": case["queue_id"],
            "priority": case["priority"], **(routing or {})}))
    elif effect == EFFECT_REROUTED:
        entries.append(dict(event, action="case.routed", data={
            "from": state, "to": case["state"], "trigger": "rerouted", "report_id": str(report_id),
            "policy": item.policy.code, "queue_id": case["queue_id"], "priority": case["priority"], **routing}))
    report = _report_row(report_id=report_id, case_id=case["id"], subject_id=subject_id, source=source,
                         api_client_id=api_client_id, item=item, now=now, status=status, body=body,
                         discounted=verdict.discounted)
    audit_record_many(entries=entries, actor=actor, together_with=[insert_sql([report])])  # report and events: one statement
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


def reports_file_batch(*, source, api_client_id, actor, items, now=None, hooks=NO_HOOKS,
                       guard: IntakeGuard | None = None):
    """Files validated reports in the caller's transaction (or a new one):
    the one intake path, for a single report (`report_file`) and a batch.

    `items` is a list of ReportInput. Returns a list, in the same order, of
    FileResult or IdempotencyConflict. Per item: a known idempotency key
    replays or conflicts without writing; the subject (and author) is
    upserted, the report joins the subject's open case or opens one, counts
    and priority follow, and one audit event is recorded per report. About
    ten statements whatever the number of items; subjects and cases are
    locked in sorted order so concurrent calls cannot deadlock on them.
    A `guard` is evaluated by the first subject upsert (IntakeGuard); a
    call that only replays known keys writes nothing and never checks it.
    """
    now = now or timezone.now()
    results = [None] * len(items)
    # No savepoint: the caller's transaction (reviews.intake retries it whole) is the unit.
    with transaction.atomic(savepoint=False):
        todo, first_with_key = _replay_known_keys(source, items, results)
        if todo:
            items = list(items)
            for index, item in zip(todo, hooks.reports_received(source=source, items=[items[i] for i in todo]),
                                   strict=True):
                items[index] = item
            run = _IntakeRun(source=source, api_client_id=api_client_id, actor=actor, now=now, hooks=hooks,
                             items=items, results=results, guard=guard)
            run.file(todo)
            hooks.reports_filed(source=source, filed=[(items[i], results[i]) for i in todo])
    return _resolve_repeats(items, results, first_with_key)


def _replay_known_keys(source, items, results):
    """Answers the items whose idempotency key an earlier request stored
    (replay or conflict, in `results`). Returns (indexes still to file,
    {key: first index with it}); a key repeated inside the call is resolved
    after its first item is filed."""
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
            continue
        if key is not None:
            first_with_key[key] = index
        todo.append(index)
    return todo, first_with_key


def _upsert_subjects_of(source, items, todo, now, guard=None):
    """Accounts first (authors and account subjects), then content, one
    statement per kind and set of fields; the first of them evaluates the
    guard. Returns {(kind, external_id): (id, metadata, created)}."""
    accounts, contents = {}, {}
    for index in todo:
        subject = items[index].subject
        if subject.kind == SubjectKind.CONTENT and subject.author_external_id is not None:
            fields = accounts.setdefault(subject.author_external_id, {})
            if subject.author_display_name is not None:
                fields["display_name"] = subject.author_display_name
        target = accounts if subject.kind == SubjectKind.ACCOUNT else contents
        target.setdefault(subject.external_id, {}).update(subject.fields)
    subject_ids = {}
    account_rows = _upsert_grouped(source, SubjectKind.ACCOUNT, accounts, now, guard=guard)
    if accounts:
        guard = None
    subject_ids.update({(SubjectKind.ACCOUNT, k): v for k, v in account_rows.items()})
    for index in todo:
        subject = items[index].subject
        if subject.kind == SubjectKind.CONTENT and subject.author_external_id is not None:
            contents[subject.external_id]["author_id"] = _db(account_rows[subject.author_external_id][0])
    content_rows = _upsert_grouped(source, SubjectKind.CONTENT, contents, now, guard=guard)
    subject_ids.update({(SubjectKind.CONTENT, k): v for k, v in content_rows.items()})
    return subject_ids


@dataclass
class _IntakeRun:
    """One call of reports_file_batch after idempotency: the items to file
    and what filing them collects for the bulk writes at the end."""

    source: Source
    api_client_id: object
    actor: Actor
    now: object
    hooks: IntakeHooks
    items: list
    results: list
    reports: list = field(default_factory=list)
    audit_entries: list = field(default_factory=list)
    touched: dict = field(default_factory=dict)  # case id -> case whose counters changed
    priority_before: dict = field(default_factory=dict)  # case id -> priority when the call found it
    to_route: list = field(default_factory=list)  # (case_opened kwargs, the case.opened event's data)
    verdicts: dict = field(default_factory=dict)  # item index -> ReportVerdict (IntakeHooks.reports_signals)
    deferred: set = field(default_factory=set)  # ids of cases this call opens whose row goes in the final statement
    guard: IntakeGuard | None = None

    def file(self, todo):
        items = self.items
        item_metadata = _metadata_as_of_each_item(self.source, items, todo)
        cases = None
        signals = self.hooks.has_report_signals()
        if not signals and self.guard is None and _single_subject(items, todo) is not None:
            self.subject_ids, cases = _upsert_subject_and_case(source=self.source, item=items[todo[0]], now=self.now)
        else:
            self.subject_ids = _upsert_subjects_of(self.source, items, todo, self.now, guard=self.guard)
        # G4 signals of all items at once (one statement, items in order), after the subjects are upserted (and
        # locked) and before any case is found or opened: the verdict sets the weight, damping, bonus and
        # `discounted`, and carries the report id proposed here (the signals keep a snapshot under it).
        found = [None] * len(todo)
        report_ids = [uuid7() for _index in todo]
        if signals:
            entries = []
            for report_id, index in zip(report_ids, todo, strict=True):
                subject = items[index].subject
                author_id = (self.subject_ids[(SubjectKind.ACCOUNT, subject.author_external_id)][0]
                             if subject.kind == SubjectKind.CONTENT and subject.author_external_id is not None
                             else None)
                entries.append((report_id, self._subject_of(index)[0], author_id, items[index]))
            found = self.hooks.reports_signals(source=self.source, api_client_id=self.api_client_id,
                                               entries=entries, now=self.now)
        for report_id, index, verdict in zip(report_ids, todo, found, strict=True):
            self.verdicts[index] = replace(verdict or _plain_verdict(items[index]), report_id=report_id)
        first_item = {}
        for index in todo:
            first_item.setdefault(self._subject_of(index)[0], index)
        self.first_item = first_item
        if cases is None:
            cases = self._new_subjects_cases(item_metadata)
            rest = {subject_id: index for subject_id, index in first_item.items() if subject_id not in cases}
            if rest:
                cases.update(_find_or_open_cases(source=self.source, first_item=rest, items=items,
                                                 subject_ids=self.subject_ids, now=self.now,
                                                 item_metadata=item_metadata, verdicts=self.verdicts))
        self.cases = cases
        special = self._cases_filed_one_by_one(todo)
        self.known_reporters = self._known_reporters(todo, special)
        for index in todo:
            subject_id, metadata, _created = self._subject_of(index)
            reach = reach_of(item_metadata.get(index, metadata))
            if subject_id in special:
                self.results[index], joined = _file_into_case(
                    source=self.source, api_client_id=self.api_client_id, actor=self.actor, item=items[index],
                    subject_id=subject_id, case=self.cases[subject_id], reach=reach, now=self.now, hooks=self.hooks,
                    verdict=self.verdicts[index])
                self.cases[subject_id] = {**joined, "opened": False}
            else:
                self._file_in_bulk(index, subject_id, reach)
        self._write()

    def _new_subjects_cases(self, item_metadata):
        """The cases of subjects this call created (PostgreSQL): no case can
        exist for them (a concurrent writer waits on the subject row), so the
        case is known without asking and its row is inserted in the final
        statement with the reports (no round trip of its own)."""
        if connection.vendor != "postgresql":
            return {}
        by_subject = {v[0]: v for v in self.subject_ids.values()}
        cases = {}
        for subject_id, index in self.first_item.items():
            _sid, metadata, created = by_subject[subject_id]
            if not created:
                continue
            new_id, values = _new_case_values(item=self.items[index], metadata=item_metadata.get(index, metadata),
                                              now=self.now, verdict=self.verdicts[index])
            state, priority, queue_id, max_severity, weight, score = values[:6]
            cases[subject_id] = {
                "id": new_id, "state": state, "priority": priority, "report_count": 1, "reporter_count": 1,
                "max_severity": max_severity, "reporter_weight": weight, "max_classifier_score": score,
                "queue_id": queue_id, "previous_case_id": None, "decided_at": None, "decided_severity": None,
                "decided_content_hash": "", "opened": True,
            }
            self.deferred.add(new_id)
        return cases

    def _deferred_case_rows(self):
        """Unsaved Case rows of the deferred cases, with their counters as filing left them."""
        rows = []
        for subject_id, case in sorted(self.cases.items(), key=lambda kv: str(kv[1]["id"])):
            if case["id"] not in self.deferred:
                continue
            rows.append(Case(
                id=case["id"], subject_id=subject_id, source_id=self.source.pk, previous_case_id=None,
                state=case["state"], priority=case["priority"], queue_id=case["queue_id"],
                report_count=case["report_count"], reporter_count=case["reporter_count"],
                max_severity=case["max_severity"], reporter_weight=case["reporter_weight"],
                max_classifier_score=case["max_classifier_score"], opened_at=self.now, updated_at=self.now))
        return rows

    def _subject_of(self, index):
        subject = self.items[index].subject
        return self.subject_ids[(subject.kind, subject.external_id)]

    def _known_reporters(self, todo, special):
        """(case id, reporter kind, reporter id) of the reports joined cases
        already hold (not those filed one by one: _file_into_case asks itself)."""
        joined_ids = [c["id"] for s, c in self.cases.items() if not c["opened"] and s not in special]
        if not joined_ids:
            return set()
        external_ids = {self.items[i].reporter_external_id for i in todo}
        return set(Report.objects.filter(case_id__in=joined_ids, reporter_external_id__in=external_ids)
                   .values_list("case_id", "reporter_kind", "reporter_external_id"))

    def _cases_filed_one_by_one(self, todo):
        """Subjects whose case a report may move (a decided case and the
        re-review rules; a case under review and a more severe policy): their
        items go one by one through _file_into_case. Also notes the most
        severe policy per subject, which routes a case this call opens."""
        self.most_severe = most_severe = {}
        for index in todo:
            it = self.items[index]
            subject_id = self._subject_of(index)[0]
            if subject_id not in most_severe or it.policy.severity > most_severe[subject_id].severity:
                most_severe[subject_id] = it.policy
        return {subject_id for subject_id, case in self.cases.items() if not case["opened"] and (
            case["state"] == CaseState.DECIDED
            or (case["state"] in REVIEWING_STATES and most_severe[subject_id].severity > case["max_severity"]))}

    def _file_in_bulk(self, index, subject_id, reach):
        it = self.items[index]
        case = self.cases[subject_id]
        opened_by_this = case["opened"] and self.first_item[subject_id] == index
        reporter = (case["id"], it.reporter_kind, it.reporter_external_id)
        priority_before = case["priority"]
        if not opened_by_this:
            self.priority_before.setdefault(case["id"], priority_before)
            case = self.cases[subject_id] = {**_join_counts(case=case, item=it, reach=reach,
                                                            new_reporter=reporter not in self.known_reporters,
                                                            verdict=self.verdicts[index]),
                                             "opened": case["opened"]}
            self.touched[case["id"]] = case
        self.known_reporters.add(reporter)
        report_id = self.verdicts[index].report_id or uuid7()
        body = {
            "report_id": str(report_id),
            "case": {"id": str(case["id"]), "state": case["state"], "priority": case["priority"],
                     "report_count": case["report_count"]},
            "deduplicated": not opened_by_this,
            "effect": EFFECT_OPENED if opened_by_this else EFFECT_JOINED,
        }
        status = 201 if opened_by_this else 200
        self.results[index] = FileResult(status=status, body=body)
        self.reports.append(_report_row(report_id=report_id, case_id=case["id"], subject_id=subject_id,
                                        source=self.source, api_client_id=self.api_client_id, item=it, now=self.now,
                                        status=status, body=body, discounted=self.verdicts[index].discounted))
        if opened_by_this:
            data = {
                "report_id": str(report_id), "subject_id": str(subject_id), "policy": it.policy.code,
                "reporter_kind": it.reporter_kind, "queue_id": case["queue_id"], "priority": priority_before,
                "previous_case_id": str(case["previous_case_id"]) if case["previous_case_id"] else None,
            }
            # routing (in _write, for all opened cases at once) adds its result to this event's data
            self.to_route.append((dict(
                case_id=case["id"], policy_id=self.most_severe[subject_id].pk, queue_id=case["queue_id"],
                jurisdictions=it.jurisdiction, priority=priority_before, opened_at=self.now,
                reporter_kind=it.reporter_kind, signal_flags=self.verdicts[index].flags), data))
            self.audit_entries.append(dict(stream=case_stream(case["id"]), new_stream=True, action="case.opened",
                                           target_type="case", target_id=case["id"], data=data))
        else:
            self.audit_entries.append(dict(
                stream=case_stream(case["id"]), new_stream=case["opened"], action="report.filed",
                target_type="case", target_id=case["id"], data={
                    "report_id": str(report_id), "policy": it.policy.code, "reporter_kind": it.reporter_kind,
                    "report_count": case["report_count"], "priority": [priority_before, case["priority"]],
                }))

    def _write(self):
        """Routing's rows (the first reviews of new cases), the joined cases'
        counters, the reports and the audit events, in one statement
        (routing's data joins the case.opened events)."""
        opened, routing_rows = self.hooks.cases_opening([args for args, _ in self.to_route]) if self.to_route else ([], [])
        for (_args, data), routing in zip(self.to_route, opened, strict=True):
            data.update(routing)
        statements = []
        new_cases = self._deferred_case_rows()
        if new_cases:
            statements.append(insert_sql(new_cases))
        updated = [case for case in self.touched.values() if case["id"] not in self.deferred]
        if updated:
            counters = dict(model=Case, key=("id", "uuid"), columns=[
                ("report_count", "integer"), ("reporter_count", "integer"), ("reporter_weight", "double precision"),
                ("max_severity", "smallint"), ("max_classifier_score", "double precision"), ("priority", "integer"),
                ("updated_at", "timestamptz")], rows=sorted(
                    (case["id"], case["report_count"], case["reporter_count"], case["reporter_weight"],
                     case["max_severity"], case["max_classifier_score"], case["priority"], self.now)
                    for case in updated))
            if connection.vendor == "postgresql":
                statements.append(update_from_values_sql(**counters))
            else:
                update_from_values(**counters)
        if self.touched:
            for case in self.touched.values():
                if case["priority"] != self.priority_before[case["id"]]:
                    self.hooks.priority_changed(case_id=case["id"], priority=case["priority"])
        by_model = {}
        for row in [*routing_rows, *self.reports]:
            by_model.setdefault(type(row), []).append(row)
        statements += [insert_sql(objs) for objs in by_model.values()]
        audit_record_many(entries=self.audit_entries, actor=self.actor, together_with=statements)


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


def _upsert_grouped(source, kind, rows_by_external_id, now, guard=None):
    """Upserts subjects of one kind, one statement per set of provided fields
    (the first evaluates the guard)."""
    groups = {}
    for external_id in sorted(rows_by_external_id):
        fields = rows_by_external_id[external_id]
        groups.setdefault(tuple(sorted(fields)), []).append((external_id, fields))
    result = {}
    for _names, rows in sorted(groups.items()):
        result.update(upsert_subjects(source=source, kind=kind, rows=rows, now=now, guard=guard))
        guard = None
    return result


def _metadata_as_of_each_item(source, items, todo):
    """{item index: the subject metadata as that item saw it}, for batches in
    which some item changes a subject's metadata (so each item's priority is
    what a single request at that point would have produced). Empty when no
    item carries metadata: the stored metadata then holds for all."""
    keys = [(items[i].subject.kind, items[i].subject.external_id) for i in todo]
    if len(set(keys)) == len(keys) or not any("metadata" in items[i].subject.fields for i in todo):
        return {}  # each subject once (a single report): what the upsert returns is what its item saw
    keys = set(keys)
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


_CASE_COLUMNS = ("id, subject_id, source_id, previous_case_id, state, priority, queue_id, report_count, "
                 "reporter_count, max_severity, reporter_weight, max_classifier_score, opened_at, updated_at")
_PREVIOUS_CASE = ("(SELECT p.id FROM cases_case p WHERE p.subject_id = {} AND p.closed_at IS NOT NULL "
                  "ORDER BY p.closed_at DESC LIMIT 1)")
_JOIN_OPEN_CASE = "ON CONFLICT (subject_id) WHERE closed_at IS NULL DO UPDATE SET updated_at = EXCLUDED.updated_at"


def _new_case_values(*, item, metadata, now, verdict=None):
    """(proposed id, [state, priority, queue, max severity, reporter weight,
    classifier score, opened, updated]) of the case `item` would open (with
    the signals' verdict on it, if any)."""
    verdict = verdict or _plain_verdict(item)
    weight = verdict.reporter_weight
    priority = case_priority(max_severity=item.policy.severity, reporter_weight=weight,
                             max_classifier_score=item.classifier_score, reach=reach_of(metadata),
                             reporter_damping=verdict.reporter_damping, bonus=verdict.priority_bonus)
    db_now = connection.ops.adapt_datetimefield_value(now)
    return uuid7(), [CaseState.OPEN, priority, queue_for_policy(item.policy).pk, item.policy.severity, weight,
                     item.classifier_score, db_now, db_now]


def _find_or_open_cases(*, source, first_item, items, subject_ids, now, item_metadata, verdicts=None):
    """One statement: for each subject, opens a case, or (on the partial
    unique index of open cases) locks and returns the open one. Returns
    {subject_id: case dict with an extra "opened" flag}."""
    by_subject = {v[0]: v for v in subject_ids.values()}
    proposals, params, tuples = {}, [], []
    for subject_id in sorted(first_item):
        _sid, metadata, created = by_subject[subject_id]
        metadata = item_metadata.get(first_item[subject_id], metadata)
        new_id, values = _new_case_values(item=items[first_item[subject_id]], metadata=metadata, now=now,
                                          verdict=(verdicts or {}).get(first_item[subject_id]))
        proposals[subject_id] = new_id
        params += [_db(new_id, Case), _db(subject_id), _db(source.pk, Source)]
        if not created:
            params.append(_db(subject_id))
        params += values
        previous = "NULL" if created else _PREVIOUS_CASE.format("%s")
        tuples.append(f"(%s, %s, %s, {previous}, %s, %s, %s, 1, 1, %s, %s, %s, %s, %s)")
    sql = (f"INSERT INTO cases_case ({_CASE_COLUMNS}) VALUES {', '.join(tuples)} {_JOIN_OPEN_CASE} "
           f"RETURNING subject_id, {_CASE_RETURNING}")
    cases = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            subject_id = _from_db_uuid(row[0])
            case = _case_row(row[1:])
            case["opened"] = case["id"] == proposals[subject_id]
            cases[subject_id] = case
    return cases


def _single_subject(items, todo):
    """The one subject a call files about, when it needs no other upsert (no
    author): then subject and case take one statement (PostgreSQL)."""
    if len(todo) != 1 or connection.vendor != "postgresql":
        return None
    subject = items[todo[0]].subject
    if subject.kind == SubjectKind.CONTENT and subject.author_external_id is not None:
        return None
    return subject


def _upsert_subject_and_case(*, source, item, now):
    """upsert_subjects and _find_or_open_cases for a single report about a
    subject without an author, in one statement. The case is opened or
    joined in the same statement when the priority a new case gets is known
    before: the subject is new, or the report carries its metadata (reach).
    Otherwise (a known subject, its stored metadata) only the subject is
    upserted and the case is left to _find_or_open_cases.
    Returns ({(kind, external_id): (id, metadata, created)}, cases or None)."""
    subject = item.subject
    subject_sql, params, new_ids = _subjects_upsert_sql(
        source=source, kind=subject.kind, rows=[(subject.external_id, dict(subject.fields))], now=now)
    proposed_subject = _db(new_ids[subject.external_id])
    new_id, values = _new_case_values(item=item, metadata=subject.fields.get("metadata", {}), now=now)
    sql = (
        f"WITH s AS ({subject_sql}), c AS (INSERT INTO cases_case ({_CASE_COLUMNS}) "
        f"SELECT %s::uuid, s.id, %s::uuid, CASE WHEN s.id = %s::uuid THEN NULL ELSE {_PREVIOUS_CASE.format('s.id')} END, "
        "%s::varchar, %s::integer, %s::bigint, 1, 1, %s::smallint, %s::double precision, %s::double precision, "
        "%s::timestamptz, %s::timestamptz "
        f"FROM s WHERE s.id = %s::uuid OR %s {_JOIN_OPEN_CASE} RETURNING subject_id, {_CASE_RETURNING}) "
        "SELECT s.id, s.metadata, c.* FROM s LEFT JOIN c ON true"
    )
    params += [_db(new_id, Case), _db(source.pk, Source), proposed_subject, *values, proposed_subject,
               "metadata" in subject.fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    subject_row = _subject_row(row[0], row[1], new_ids[subject.external_id])
    subject_ids = {(subject.kind, subject.external_id): subject_row}
    if row[2] is None:
        return subject_ids, None
    case = _case_row(row[3:])
    case["opened"] = case["id"] == new_id
    return subject_ids, {subject_row[0]: case}


