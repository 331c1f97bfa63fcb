"""What the server can show about one stream (a case's trail), and what it
cannot: for the console's "verify this case" (docs/security.md).

`stream_evidence` runs, in one consistent snapshot:
1. the chain (audit.verify.verify_stream): gapless from seq 1, every link,
   every event's HMAC under its key id, the end at the stream head, every
   (seq, hash) a checkpoint recorded for it still there;
2. the seals: every checkpoint that recorded the stream, its own HMAC under
   its key and its link to the checkpoint before it;
3. the anchors the server has: those checkpoints against the local anchor
   file (AUDIT_ANCHOR_FILE), and, through providers the layers above
   register (integrations: the witness's acknowledgements), whether an
   anchor outside the server acknowledged them.
It also says what it did not check: events after the last checkpoint that
recorded the stream (sealed by nothing yet), sinks that are not configured,
what the witness kept (only its own copy can be compared, with
`verify_audit --anchors`), and the rest of the trail (other streams, the
whole checkpoint chain, completeness: `verify_audit`).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count

from .anchors import AnchorFormatError, index_anchors, read_anchors
from .hashing import GENESIS
from .keys import keyring
from .models import AuditCheckpoint, AuditEvent
from .verify import Problem, StreamVerifyResult, checkpoint_problems, verify_stream

# name -> function({checkpoint number}) -> {number: when that anchor acknowledged it}
_external_anchors: dict[str, Callable[[set[int]], dict[int, datetime]]] = {}


def register_external_anchor(name: str, acknowledged: Callable[[set[int]], dict[int, datetime]] | None) -> None:
    """Registered from AppConfig.ready by a layer above that sends checkpoints
    out (integrations: the witness); None unregisters it."""
    if acknowledged is None:
        _external_anchors.pop(name, None)
    else:
        _external_anchors[name] = acknowledged


@dataclass
class SealCheck:
    number: int
    created_at: datetime
    key_id: str
    seq: int  # the stream's seq this checkpoint recorded
    problems: list[str] = field(default_factory=list)
    in_anchor_file: bool | None = None  # None: no anchor file configured (or unreadable)
    acknowledged: dict[str, datetime] = field(default_factory=dict)  # external anchor name -> when


@dataclass
class StreamEvidence:
    chain: StreamVerifyResult
    key_ids: list[str] = field(default_factory=list)
    legacy_events: int = 0  # unkeyed events (before keys existed): their seal is checked by verify_audit only
    seals: list[SealCheck] = field(default_factory=list)
    anchor_file: str = ""
    anchor_file_error: str = ""
    external_anchors: list[str] = field(default_factory=list)  # configured (registered) ones
    problems: list[str] = field(default_factory=list)  # seals and anchors; the chain's own problem is chain.problem

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems

    @property
    def sealed_seq(self) -> int:
        """The highest seq of the stream that a checkpoint recorded (0: none)."""
        return max((s.seq for s in self.seals), default=0)

    @property
    def unsealed_events(self) -> int:
        return max(0, self.chain.events - self.sealed_seq)

    @property
    def last_in_anchor_file(self) -> int | None:
        return max((s.number for s in self.seals if s.in_anchor_file), default=None)

    def last_acknowledged(self, name: str) -> SealCheck | None:
        return max((s for s in self.seals if name in s.acknowledged), key=lambda s: s.number, default=None)


def stream_evidence(stream: str) -> StreamEvidence:
    """Checks one stream, its checkpoints and their anchors; writes nothing.
    On PostgreSQL outside a transaction it reads one consistent snapshot."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return _stream_evidence(stream)
    return _stream_evidence(stream)


def _stream_evidence(stream: str) -> StreamEvidence:
    evidence = StreamEvidence(chain=verify_stream(stream))
    keys = dict(AuditEvent.objects.filter(stream=stream).values("key_id").annotate(n=Count("id"))
                .values_list("key_id", "n"))
    evidence.legacy_events = keys.pop("", 0)
    evidence.key_ids = sorted(keys)
    checkpoints = list(AuditCheckpoint.objects.filter(heads__has_key=stream).order_by("number"))
    previous = dict(AuditCheckpoint.objects.filter(number__in=[cp.number - 1 for cp in checkpoints])
                    .values_list("number", "hash"))
    first_keyed = (AuditCheckpoint.objects.exclude(key_id="").order_by("number")
                   .values_list("number", flat=True).first())
    anchors = _anchor_file(evidence)
    ring = keyring()
    for cp in checkpoints:
        entry = cp.heads.get(stream)
        seal = SealCheck(number=cp.number, created_at=cp.created_at, key_id=cp.key_id,
                         seq=entry[0] if isinstance(entry, list) and entry and type(entry[0]) is int else 0)
        prev_hash = GENESIS if cp.number == 1 else previous.get(cp.number - 1)
        if prev_hash is None:
            seal.problems.append(f"checkpoint {cp.number - 1}, which checkpoint {cp.number} chains to, is missing")
        keyed_before = first_keyed is not None and first_keyed < cp.number
        anchor = anchors.get(cp.number) if anchors is not None else None
        for problem in checkpoint_problems(cp, expected_number=cp.number, prev_hash=prev_hash or cp.prev_hash,
                                           keyed=keyed_before, keys=ring, anchor=anchor):
            seal.problems.append(str(problem))
        if anchors is not None:
            seal.in_anchor_file = anchor is not None
        evidence.seals.append(seal)
        evidence.problems.extend(seal.problems)
    numbers = {s.number for s in evidence.seals}
    for name, acknowledged in sorted(_external_anchors.items()):
        answer = acknowledged(numbers)
        if answer is None:
            continue  # not configured
        evidence.external_anchors.append(name)
        for seal in evidence.seals:
            if seal.number in answer:
                seal.acknowledged[name] = answer[seal.number]
    return evidence


def _anchor_file(evidence: StreamEvidence) -> dict | None:
    """{number: Anchor} of the configured anchor file, or None (recorded in
    `evidence` why: not configured, unreadable, contradicting itself)."""
    path = settings.AUDIT_ANCHOR_FILE
    evidence.anchor_file = path
    if not path:
        return None
    try:
        by_number, conflicts = index_anchors(read_anchors(path))
    except FileNotFoundError:
        by_number, conflicts = {}, []  # nothing anchored yet
    except (OSError, AnchorFormatError, UnicodeDecodeError) as exc:
        evidence.anchor_file_error = str(exc)
        evidence.problems.append(str(Problem(f"the anchor file could not be read: {exc}")))
        return None
    evidence.problems.extend(conflicts)
    return by_number
