"""Submission of published statements of reasons to the Commission's DSA
Transparency Database (docs/dsa.md, "Submission").

Outbox: publishing a statement writes `statement.published` to the audit
log in the deciding (or correcting) transaction. `dispatch()` tails the log
exactly like the webhook dispatcher (audit.tail: (xid, id) order below the
watermark, a cursor moved by compare-and-swap) and marks those statements
`pending`. So a statement is queued exactly when its publication committed,
and submission switched on later picks up everything published before.

Sending (`send_round()`): one sender at a time (a PostgreSQL advisory lock);
the oldest pending statements are claimed in id order (FOR UPDATE SKIP
LOCKED; the first one not yet due stops the batch, so statements arrive in
order), their attempt counted and leased in the claiming transaction; the
HTTP call runs with no transaction open; the answer is recorded by
compare-and-swap on the attempt number. Every payload passes the schema and
personal-data check again right before it leaves.

Never twice: the database refuses a `puid` it has (422, `existing_puids` in
a batch, `existing` for one). A batch whose answer was lost (timeout,
dropped connection, 500) is sent again; the puids it already stored come
back as existing and are marked submitted, the others are sent in the next
round. Answers: 201 submitted; 422 per statement (`statement_N`) dead-letters
those statements (audited, shown to leads) and retries the rest at once; 429
waits Retry-After; 5xx and network errors back off exponentially up to
DSA_TDB_MAX_ATTEMPTS, then dead-letter.
"""

import json
import logging
import random
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, CharField, F, Value, When
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import case_stream
from audit.tail import settled_batch, watermark

from . import vocabulary as v
from .models import Statement, SubmissionState, TailCursor
from .statements import check_payload, decisions_with_facts, facts_of

log = logging.getLogger(__name__)
SYSTEM = Actor.system("dsa-submission")
_LOCK_KEY = 0x44534131  # "DSA1": one sender per database
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
CURSOR = "submission"


def enabled() -> bool:
    return bool(settings.DSA_TDB_URL)


# ---- the outbox tail ---------------------------------------------------------------


def dispatch(*, batch_size: int = 1000) -> int:
    """Marks the statements of settled `statement.published` events after the
    cursor as pending and moves the cursor (compare-and-swap). Returns how
    many statements were queued."""
    TailCursor.objects.get_or_create(name=CURSOR)
    mark = watermark()
    queued = 0
    while True:
        cursor = TailCursor.objects.values_list("cursor_xid", "cursor_event_id").get(name=CURSOR)
        rows, new_cursor, complete = settled_batch(cursor=cursor, mark=mark, actions=["statement.published"],
                                                   batch_size=batch_size, fields=("target_id",))
        now = timezone.now()
        with transaction.atomic():
            moved = TailCursor.objects.filter(name=CURSOR, cursor_xid=cursor[0], cursor_event_id=cursor[1]).update(
                cursor_xid=new_cursor[0], cursor_event_id=new_cursor[1])
            if not moved:
                return queued  # another dispatcher moved it
            queued += Statement.objects.filter(pk__in=[r["target_id"] for r in rows],
                                               submission_state=SubmissionState.UNSENT).update(
                submission_state=SubmissionState.PENDING, submission_next_at=now)
        if complete:
            return queued


# ---- the HTTP client -----------------------------------------------------------------


@dataclass
class Answer:
    status: int  # 0: no answer (network error, timeout, dropped connection)
    body: dict = field(default_factory=dict)
    retry_after: float | None = None
    error: str = ""


def post_statements(statements: list[dict[str, Any]]) -> Answer:
    """POST /api/v1/statements with up to 100 statements."""
    data = json.dumps({"statements": statements}, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        f"{settings.DSA_TDB_URL}/api/v1/statements", data=data, method="POST",
        headers={"Authorization": f"Bearer {settings.DSA_TDB_TOKEN}", "Content-Type": "application/json",
                 "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=settings.DSA_TDB_TIMEOUT) as response:  # noqa: S310 (setting)
            return Answer(status=response.status, body=_json(response.read(MAX_RESPONSE_BYTES)))
    except urllib.error.HTTPError as exc:
        retry = exc.headers.get("Retry-After") if exc.headers else None
        try:
            retry_after = max(0.0, min(float(retry), 3600.0)) if retry else None
        except ValueError:
            retry_after = None
        return Answer(status=exc.code, body=_json(exc.read(MAX_RESPONSE_BYTES)), retry_after=retry_after,
                      error=f"HTTP {exc.code}")
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        return Answer(status=0, error=f"{type(exc).__name__}: {exc}"[:500])


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# ---- sending ---------------------------------------------------------------------------


@dataclass
class Claimed:
    id: Any
    attempt: int
    puid: str
    payload: dict
    case_id: Any
    decision_id: Any


def _lease() -> timedelta:
    return timedelta(seconds=settings.DSA_TDB_TIMEOUT * 2 + 5)


def claim(*, now, limit: int) -> list[Claimed]:
    """The oldest pending statements, in id order, up to the first one not
    yet due; their attempt counted and leased."""
    with transaction.atomic():
        rows = list(Statement.objects.select_for_update(skip_locked=True)
                    .filter(submission_state=SubmissionState.PENDING).order_by("id")
                    .only("id", "submission_attempts", "submission_next_at", "puid", "payload", "case_id",
                          "decision_id")[:limit])
        due = []
        for row in rows:
            if row.submission_next_at and row.submission_next_at > now:
                break
            due.append(row)
        Statement.objects.filter(pk__in=[row.pk for row in due]).update(
            submission_attempts=F("submission_attempts") + 1, submission_next_at=now + _lease())
    return [Claimed(r.pk, r.submission_attempts + 1, r.puid, r.payload, r.case_id, r.decision_id) for r in due]


def _finish(claimed: Claimed, *, state: str, now, error: str = "", tdb_uuid: str = "", next_at=None) -> bool:
    """Records one statement's result if nobody else did (compare-and-swap on the attempt)."""
    fields: dict[str, Any] = {"submission_state": state, "submission_error": error[:2000]}
    if state == SubmissionState.SUBMITTED:
        fields.update(submitted_at=now, tdb_uuid=tdb_uuid[:64], submission_next_at=None)
    elif state == SubmissionState.PENDING:
        fields["submission_next_at"] = next_at or now
    else:
        fields["submission_next_at"] = None
    changed = Statement.objects.filter(pk=claimed.id, submission_state=SubmissionState.PENDING,
                                       submission_attempts=claimed.attempt).update(**fields)
    if changed and state in (SubmissionState.SUBMITTED, SubmissionState.DEAD):
        action = "statement.submitted" if state == SubmissionState.SUBMITTED else "statement.submission_failed"
        audit.record(stream=case_stream(claimed.case_id), action=action, actor=SYSTEM, target_type="statement",
                     target_id=claimed.id, data={"puid": claimed.puid, "attempt": claimed.attempt,
                                                 "error": error[:2000], "tdb_uuid": tdb_uuid[:64] or None})
    return bool(changed)


def _backoff(attempt: int) -> float:
    delay = min(settings.DSA_TDB_RETRY_BASE_SECONDS * 2 ** min(attempt - 1, 20), 3600.0)
    return delay * random.uniform(0.5, 1.0)


def _statement_errors(body: dict) -> dict[int, str]:
    errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
    out = {}
    for key, value in errors.items():
        if isinstance(key, str) and key.startswith("statement_") and key[10:].isdigit():
            out[int(key[10:])] = json.dumps(value, ensure_ascii=False)[:2000]
    return out


def _existing_puids(body: dict) -> set[str]:
    errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
    existing = errors.get("existing_puids") or body.get("existing_puids") or []
    return {p for p in existing if isinstance(p, str)}


def _settle(batch: list[Claimed], answer: Answer, now) -> dict[str, int]:
    counts = {"submitted": 0, "dead": 0, "retry": 0}

    def done(item, state, **kw):
        if _finish(item, state=state, now=now, **kw):
            counts[{"submitted": "submitted", "dead": "dead"}.get(state, "retry")] += 1

    with transaction.atomic(), audit.batch():
        if answer.status in (200, 201):
            uuids = {s.get("puid"): str(s.get("uuid") or "") for s in answer.body.get("statements", [])
                     if isinstance(s, dict)}
            counts["submitted"] = _submitted_all(batch, uuids, now)
        elif answer.status == 422 and (_existing_puids(answer.body) or _statement_errors(answer.body)):
            existing, refused = _existing_puids(answer.body), _statement_errors(answer.body)
            for index, item in enumerate(batch):
                if item.puid in existing:
                    done(item, SubmissionState.SUBMITTED, error="already in the transparency database")
                elif index in refused:
                    done(item, SubmissionState.DEAD, error=f"refused (422): {refused[index]}")
                else:
                    done(item, SubmissionState.PENDING)  # all or nothing: the others go again at once
        else:
            for item in batch:
                if answer.status == 429:
                    wait = answer.retry_after if answer.retry_after is not None else settings.DSA_TDB_RETRY_BASE_SECONDS
                    done(item, SubmissionState.PENDING, error="rate limited (429)", next_at=now + timedelta(seconds=wait))
                elif item.attempt >= settings.DSA_TDB_MAX_ATTEMPTS:
                    done(item, SubmissionState.DEAD, error=f"gave up after {item.attempt} attempts: "
                                                           f"{answer.error or answer.status}")
                else:
                    done(item, SubmissionState.PENDING, error=answer.error or f"HTTP {answer.status}",
                         next_at=now + timedelta(seconds=_backoff(item.attempt)))
    return counts


def _submitted_all(batch: list[Claimed], uuids: dict[str, str], now) -> int:
    """The accepted batch in two statements (the hot path): lock the rows
    still on the attempt we sent, then one UPDATE; one audit insert (batch)."""
    attempts = {item.id: item.attempt for item in batch}
    mine = [pk for pk, attempt in Statement.objects.select_for_update().filter(
        pk__in=list(attempts), submission_state=SubmissionState.PENDING).values_list("pk", "submission_attempts")
        if attempts[pk] == attempt]
    if not mine:
        return 0
    by_id = {item.id: item for item in batch}
    Statement.objects.filter(pk__in=mine).update(
        submission_state=SubmissionState.SUBMITTED, submission_error="", submitted_at=now, submission_next_at=None,
        tdb_uuid=Case(*[When(pk=pk, then=Value(uuids.get(by_id[pk].puid, "")[:64])) for pk in mine],
                      default=Value(""), output_field=CharField()))
    for pk in mine:
        item = by_id[pk]
        audit.record(stream=case_stream(item.case_id), action="statement.submitted", actor=SYSTEM,
                     target_type="statement", target_id=pk,
                     data={"puid": item.puid, "attempt": item.attempt, "error": "",
                           "tdb_uuid": uuids.get(item.puid, "")[:64] or None})
    return len(mine)


def _checked(batch: list[Claimed], now) -> list[Claimed]:
    """Drops (dead-letters) every statement whose payload fails the schema or
    the personal-data check right before sending."""
    rows = {d.pk: d for d in decisions_with_facts({c.decision_id for c in batch})}
    ok = []
    with transaction.atomic(), audit.batch():
        for item in batch:
            row = rows.get(item.decision_id)
            problems = check_payload(item.payload, identifiers=facts_of(row).identifiers if row else ())
            if item.payload.get("puid") != item.puid:
                problems.setdefault("puid", []).append("does not match the statement")
            if problems:
                _finish(item, state=SubmissionState.DEAD, now=now,
                        error="not sent: " + json.dumps(problems, ensure_ascii=False))
            else:
                ok.append(item)
    return ok


def send_round(*, max_batches: int = 50) -> dict[str, int]:
    """Sends due statements in batches until none is due (or max_batches).
    Returns counts; {} when another sender holds the lock or submission is off."""
    if not enabled():
        return {}
    totals = {"submitted": 0, "dead": 0, "retry": 0, "batches": 0}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_KEY])
        if not cursor.fetchone()[0]:
            return {}
    try:
        for _ in range(max_batches):
            now = timezone.now()
            batch = claim(now=now, limit=min(settings.DSA_TDB_BATCH, v.MAX_BATCH))
            if not batch:
                break
            batch = _checked(batch, now)
            if not batch:
                continue
            answer = post_statements([item.payload for item in batch])
            counts = _settle(batch, answer, timezone.now())
            totals["batches"] += 1
            for key, value in counts.items():
                totals[key] += value
            if answer.status not in (200, 201, 422):
                break  # the server is unwell or asked us to wait: the next tick tries again
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])
    return totals


def tick() -> dict[str, int]:
    """One beat: queue newly published statements, then send."""
    if not enabled():
        return {}
    queued = dispatch()
    result = send_round()
    return {"queued": queued, **result}
