"""Writes of the signals layer: reputation and sanctions after a decision,
hash lists, the retention sweep. Each runs in the caller's transaction or
its own and records an audit event."""

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

import audit
from audit.context import Actor
from audit.services import CONFIG_STREAM, SYSTEM_STREAM, case_stream
from cases.models import Case, Report, SubjectKind

from . import pdq
from .models import (
    AccountSanction,
    HashAlgorithm,
    HashList,
    HashListEntry,
    IdentifierLink,
    PdqBand,
    ReporterReputation,
    ReputationCredit,
    SubjectSignals,
)
from .reputation import reporter_key
from .selectors import verdict_of

# A "no violation" decision on a case flagged as coordinated reporting counts this much against its reporters.
BRIGADE_PENALTY = 2.0


def _brigade_flagged(subject_signals: SubjectSignals | None) -> bool:
    return subject_signals is not None and verdict_of(subject_signals).flagged


def signals_record_decision(*, case: Case, outcome_code: str, violation: bool, actor: Actor, now: datetime) -> None:
    """A decision became the case's current one: credit every identified
    reporter of the case (upheld on a violation, rejected otherwise, double on
    a case flagged as coordinated reporting), moving the credit an earlier
    decision of the same case gave; and record or lift the account sanction.
    Incremental: touches the case's reporters only. Runs in the deciding
    transaction (the case is locked by it)."""
    subject_signals = SubjectSignals.objects.filter(subject_id=case.subject_id, case_id=case.pk).first()
    flagged = _brigade_flagged(subject_signals)
    weight = 1.0 if violation else (BRIGADE_PENALTY if flagged else 1.0)
    reporters = sorted({
        (kind, reporter_key(reporter_kind=kind, reporter_external_id=external_id, api_client_id=client))
        for kind, external_id, client in Report.objects.filter(case_id=case.pk)
        .values_list("reporter_kind", "reporter_external_id", "api_client_id").distinct()
    })
    reporters = [(kind, key) for kind, key in reporters if key]
    previous = {(c.reporter_kind, c.reporter_key): c for c in ReputationCredit.objects.filter(case_id=case.pk)}
    deltas = []
    for kind, key in reporters:
        new_upheld, new_rejected = (weight, 0.0) if violation else (0.0, weight)
        old = previous.get((kind, key))
        d_upheld = new_upheld - (old.upheld if old else 0.0)
        d_rejected = new_rejected - (old.rejected if old else 0.0)
        if d_upheld or d_rejected:
            deltas.append((kind, key, d_upheld, d_rejected, new_upheld, new_rejected))
    if deltas:
        _apply_reputation(source_id=case.source_id, case_id=case.pk, deltas=deltas, now=now)
    sanctioned = _sanction_account(case=case, outcome_code=outcome_code, now=now)
    audit.record(stream=case_stream(case.pk), action="signals.reputation_updated", actor=actor, target_type="case",
                 target_id=case.pk, data={"violation": violation, "coordinated": flagged, "reporters": len(deltas),
                                          "weight": weight, "sanctioned_account": sanctioned})


def _apply_reputation(*, source_id, case_id, deltas, now) -> None:
    """Two statements whatever the number of reporters: add the deltas to
    the reputations (in key order, so concurrent decisions lock alike), and
    store the new credits."""
    if connection.vendor != "postgresql":  # the embedded SQLite mode: one row at a time (GREATEST is PostgreSQL's)
        for kind, key, d_upheld, d_rejected, _u, _r in deltas:
            record, _ = ReporterReputation.objects.get_or_create(
                source_id=source_id, reporter_kind=kind, reporter_key=key, defaults={"updated_at": now})
            ReporterReputation.objects.filter(pk=record.pk).update(
                upheld=max(0.0, record.upheld + d_upheld), rejected=max(0.0, record.rejected + d_rejected),
                updated_at=now)
        _store_credits(source_id=source_id, case_id=case_id, deltas=deltas)
        return
    values, params = [], []
    for kind, key, d_upheld, d_rejected, _u, _r in deltas:
        values.append("(%s, %s, %s, %s::double precision, %s::double precision, %s)")
        params += [source_id, kind, key, d_upheld, d_rejected, now]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO signals_reporterreputation (source_id, reporter_kind, reporter_key, upheld, rejected, updated_at) "
            f"VALUES {', '.join(values)} ON CONFLICT (source_id, reporter_kind, reporter_key) DO UPDATE SET "
            "upheld = GREATEST(0, signals_reporterreputation.upheld + EXCLUDED.upheld), "
            "rejected = GREATEST(0, signals_reporterreputation.rejected + EXCLUDED.rejected), "
            "updated_at = EXCLUDED.updated_at", params)
    _store_credits(source_id=source_id, case_id=case_id, deltas=deltas)


def _store_credits(*, source_id, case_id, deltas) -> None:
    ReputationCredit.objects.bulk_create(
        [ReputationCredit(case_id=case_id, source_id=source_id, reporter_kind=kind, reporter_key=key,
                          upheld=new_upheld, rejected=new_rejected)
         for kind, key, _du, _dr, new_upheld, new_rejected in deltas],
        update_conflicts=True, unique_fields=["case_id", "reporter_kind", "reporter_key"],
        update_fields=["upheld", "rejected"])


def _sanction_account(*, case: Case, outcome_code: str, now: datetime) -> str | None:
    """The account a ban or suspension of this case hits (the subject, or
    the content's author), recorded; any other outcome lifts this case's sanction."""
    AccountSanction.objects.filter(case_id=case.pk).delete()
    if outcome_code not in settings.SIGNALS_SANCTION_OUTCOMES:
        return None
    subject = case.subject
    account_id = subject.pk if subject.kind == SubjectKind.ACCOUNT else subject.author_id
    if account_id is None:
        return None
    AccountSanction.objects.create(subject_id=account_id, case_id=case.pk, outcome=outcome_code, decided_at=now)
    return str(account_id)


# ---- hash lists -------------------------------------------------------------------

class HashListError(ValueError):
    """A hash list file line that is not a hash; the message names the line."""


@dataclass(frozen=True)
class ParsedEntry:
    algorithm: str
    value: str
    label: str


def parse_hash_lines(text: str) -> list[ParsedEntry]:
    """CSV or plain text, one hash a line: `algorithm,value[,label]` or just
    a value (64 hex digits: SHA-256 unless the line says pdq). Blank lines
    and lines starting with # are skipped."""
    entries = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not row[0].strip() or row[0].strip().startswith("#"):
            continue
        cells = [c.strip() for c in row]
        if len(cells) == 1:
            algorithm, value, label = HashAlgorithm.SHA256, cells[0], ""
        else:
            algorithm, value, label = cells[0].lower(), cells[1], (cells[2] if len(cells) > 2 else "")
        value = value.lower()
        if algorithm not in HashAlgorithm.values:
            raise HashListError(f"line {number}: algorithm must be sha256 or pdq, not {algorithm[:20]!r}")
        if not pdq.is_hash(value):
            raise HashListError(f"line {number}: the hash must be 64 hexadecimal digits")
        entries.append(ParsedEntry(algorithm=algorithm, value=value, label=label[:200]))
    return entries


def hash_list_load(*, name: str, text: str, actor: Actor, pdq_threshold: int | None = None,
                   replace: bool = False) -> HashList:
    """Creates the list if needed and adds the entries of `text` (with
    `replace`, the list holds exactly them afterwards). All or nothing: a bad
    line raises HashListError and nothing is written. Audited."""
    entries = parse_hash_lines(text)
    with transaction.atomic():
        hash_list, created = HashList.objects.select_for_update().get_or_create(name=name)
        if pdq_threshold is not None and pdq_threshold != hash_list.pdq_threshold:
            if not 0 <= pdq_threshold <= pdq.MAX_THRESHOLD:
                raise HashListError(f"the PDQ threshold must be 0 to {pdq.MAX_THRESHOLD}")
            hash_list.pdq_threshold = pdq_threshold
            hash_list.save(update_fields=["pdq_threshold"])
        removed = 0
        if replace:
            removed, _ = HashListEntry.objects.filter(hash_list=hash_list).delete()
        existing = set(HashListEntry.objects.filter(hash_list=hash_list).values_list("algorithm", "value"))
        fresh = {}
        for entry in entries:
            if (entry.algorithm, entry.value) not in existing:
                fresh.setdefault((entry.algorithm, entry.value), entry)
        created_entries = HashListEntry.objects.bulk_create(
            [HashListEntry(hash_list=hash_list, algorithm=e.algorithm, value=e.value, label=e.label)
             for e in fresh.values()], batch_size=5000)
        PdqBand.objects.bulk_create(
            [PdqBand(entry=e, band=band, value=value) for e in created_entries if e.algorithm == HashAlgorithm.PDQ
             for band, value in enumerate(pdq.bands(e.value))], batch_size=20000)
        audit.record(stream=CONFIG_STREAM, action="signals.hash_list_changed", actor=actor, target_type="hash_list",
                     target_id=hash_list.name, data={"created": created, "added": len(created_entries),
                                                     "replaced": replace, "removed": removed,
                                                     "pdq_threshold": hash_list.pdq_threshold})
        return hash_list


def hash_list_save(*, hash_list: HashList, actor: Actor) -> HashList:
    """Saves a list's settings (admin), audited."""
    with transaction.atomic():
        created = hash_list.pk is None
        hash_list.full_clean()
        hash_list.save()
        audit.record(stream=CONFIG_STREAM, action="signals.hash_list_changed", actor=actor, target_type="hash_list",
                     target_id=hash_list.name, data={"created": created, "active": hash_list.active,
                                                     "pdq_threshold": hash_list.pdq_threshold})
        return hash_list


# ---- retention --------------------------------------------------------------------

def signals_retention_sweep(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Deletes identifier links past their retention (SIGNALS_RETENTION_DAYS
    after last seen), in batches over the expiry index. Audited on the
    system stream when anything was deleted. Returns the number deleted."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            ids = list(IdentifierLink.objects.filter(expires_at__lte=now).order_by("expires_at")
                       .values_list("pk", flat=True)[:batch])
            if not ids:
                break
            deleted, _ = IdentifierLink.objects.filter(pk__in=ids).delete()
            total += deleted
            audit.record(stream=SYSTEM_STREAM, action="signals.retention_swept", actor=Actor.system("signals"),
                         target_type="identifier_link", target_id="", data={"deleted": deleted})
    return total
