"""Verification without the database: an auditor's check of an export
(`export_audit` events and `export_audit --checkpoints`) against anchors
(the anchor file and/or a witness's records) and the audit keys.

It checks what the database walk checks except the stream heads (a working
table, not evidence, and not exported): every stream gapless from seq 1,
links, hashes under their keys, the legacy seal; the checkpoint chain, every
head a checkpoint recorded present with that hash; every checkpoint equal to
its anchor and none anchored missing; every case stream starting with
`case.opened`. It holds the whole export in memory.
"""

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.utils.dateparse import parse_datetime

from .anchors import Anchor, index_anchors
from .hashing import GENESIS, archive_seal_hash, hashes_equal
from .keys import AuditKeyring
from .verify import (
    Problem,
    VerifyResult,
    _checkpoint_entries,
    checkpoint_problems,
    event_problems,
    missing_anchored,
    seal_of,
)


class ExportFormatError(ValueError):
    pass


def _time(value: object, where: str) -> datetime:
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None or moment.tzinfo is None:
        raise ExportFormatError(f"{where}: created_at is not an ISO 8601 time with a time zone")
    return moment


def _read_lines(lines: Iterable[str], source: str, what: str,
                build: Callable[[dict, str], SimpleNamespace]) -> list[SimpleNamespace]:
    """One record per non-empty JSON line; a malformed one names its line."""
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            records.append(build(json.loads(line), where))
        except (ValueError, KeyError, TypeError) as exc:
            raise ExportFormatError(f"{where}: not an exported {what} ({exc})") from None
    return records


def _event(r: dict, where: str) -> SimpleNamespace:
    return SimpleNamespace(
        pk=r["id"], stream=r["stream"], seq=r["seq"], action=r["action"], actor_type=r["actor"]["type"],
        actor_id=r["actor"]["id"], actor_name=r["actor"]["name"], target_type=r["target"]["type"],
        target_id=r["target"]["id"], data=r["data"], request_id=r["request_id"], ip=r["ip"],
        created_at=_time(r["created_at"], where), prev_hash=r["prev_hash"], hash=r["hash"],
        key_id=r.get("key_id", ""),
    )


def _checkpoint(r: dict, where: str) -> SimpleNamespace:
    return SimpleNamespace(
        number=r["number"], created_at=_time(r["created_at"], where), heads=r["heads"],
        prev_hash=r["prev_hash"], hash=r["hash"], key_id=r.get("key_id", ""),
    )


def read_events(lines: Iterable[str], source: str = "events") -> list[SimpleNamespace]:
    return _read_lines(lines, source, "audit event", _event)


def read_checkpoints(lines: Iterable[str], source: str = "checkpoints") -> list[SimpleNamespace]:
    return _read_lines(lines, source, "checkpoint", _checkpoint)


def verify_export(*, events: list, checkpoints: list, anchors: list[Anchor], keys: AuditKeyring,
                  stop_at_first: bool = False, starts: dict | None = None,
                  first_checkpoint: tuple[int, str] | None = None) -> VerifyResult:
    """`starts` ({stream: (seq, hash)}) and `first_checkpoint` ((number,
    prev_hash)) are for an archive (verify_archive): its streams continue from
    the previous archive's ends, its checkpoints from the one before them, and
    only the checkpointed positions inside its streams' ranges are its own."""
    result = VerifyResult()
    starts = starts or {}

    def fail(problem: Problem) -> bool:
        result.problems.append(problem)
        return stop_at_first

    anchored, conflicts = index_anchors(anchors)
    for conflict in conflicts:
        if fail(Problem(conflict)):
            return result
    prev_hash, expected, keyed, seal = GENESIS, 1, False, None
    if first_checkpoint is not None:
        # An archive's checkpoints start later; the first keyed one (the seal) is behind it,
        # and an unkeyed checkpoint or event in an archive is refused outright.
        expected, prev_hash, keyed, seal = first_checkpoint[0], first_checkpoint[1], True, {}
    for cp in sorted(checkpoints, key=lambda c: c.number):
        result.checkpoints += 1
        anchor = anchored.pop(cp.number, None)
        if anchor is not None:
            result.anchored += 1
            result.last_anchored = cp.number
        for problem in checkpoint_problems(cp, expected_number=expected, prev_hash=prev_hash, keyed=keyed, keys=keys,
                                           anchor=anchor):
            if fail(problem):
                return result
        if cp.key_id and not keyed:
            keyed, seal = True, seal_of(cp.heads)
        prev_hash, expected = cp.hash, cp.number + 1
    for problem in missing_anchored(anchored):
        if fail(problem):
            return result

    by_position = {}
    ranges = {}  # stream: (first seq, last seq) of the export
    stream, expected_seq, prev, stream_keyed = None, 1, GENESIS, False
    for event in sorted(events, key=lambda e: (e.stream, e.seq)):
        result.events += 1
        if event.stream != stream:
            start_seq, start_hash = starts.get(event.stream, (0, GENESIS))
            stream, expected_seq, prev = event.stream, start_seq + 1, start_hash
            stream_keyed = first_checkpoint is not None
            result.streams += 1
            ranges[stream] = (expected_seq, expected_seq)
            if start_seq == 0 and stream.startswith("case:") and not (event.seq == 1 and event.action == "case.opened"):
                if fail(Problem("the case's stream does not start with case.opened", stream=stream, seq=event.seq)):
                    return result
        for problem in event_problems(event, expected_seq=expected_seq, prev=prev, keyed=stream_keyed, keys=keys,
                                      seal=seal):
            if fail(problem):
                return result
        stream_keyed = stream_keyed or bool(event.key_id)
        by_position[(event.stream, event.seq)] = event
        ranges[stream] = (ranges[stream][0], event.seq)
        expected_seq, prev = event.seq + 1, event.hash
    for cp in sorted(checkpoints, key=lambda c: c.number):
        for s, seq, hash_ in _checkpoint_entries(cp) or ():
            if first_checkpoint is not None and not (s in ranges and ranges[s][0] <= seq <= ranges[s][1]):
                continue  # another month's position: not this archive's to hold
            event = by_position.get((s, seq))
            if event is None:
                problem = Problem(f"recorded in checkpoint {cp.number} but missing from the export: the event or its "
                                  f"whole stream was removed", stream=s, seq=seq)
            elif event.hash != hash_:
                problem = Problem(f"differs from the hash recorded in checkpoint {cp.number}", event_id=event.pk,
                                  stream=s, seq=seq)
            else:
                continue
            if fail(problem):
                return result
    return result


def archive_line(record: dict) -> str:
    """One line of an archive as archive_partition writes it (sorted keys; the
    line breaks str.splitlines() honours escaped, as in export_audit)."""
    text = json.dumps(record, ensure_ascii=False, sort_keys=True)
    return text.replace("\u0085", "\\u0085").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


def _seal_problems(parsed: "_Lines", keys: AuditKeyring) -> list[Problem]:
    seal = parsed.seal
    if seal is None:
        return [Problem("the archive has no seal: it was cut short")]
    if parsed.after_seal:
        return [Problem("lines after the archive's seal: they were added")]
    if seal["key_id"] not in keys.secrets:
        return [Problem(f"the archive is sealed under audit key {seal['key_id']!r}, which the verifier was not given")]
    expected = archive_seal_hash(content_sha256=seal["content_sha256"], events=seal["events"],
                                 streams=seal["streams"], key_id=seal["key_id"], keyring=keys)
    if not hashes_equal(expected, seal["hash"]):
        return [Problem("the archive's seal does not match its content: lines were changed, added or removed")]
    if (seal["events"], seal["streams"]) != (len(parsed.events), len({e.stream for e in parsed.events})):
        return [Problem("the archive's event or stream count differs from its seal")]
    return []


class _Lines:
    """Splits an archive's typed lines into what verify_export takes."""

    def __init__(self) -> None:
        self.header: dict[str, Any] | None = None
        self.starts: dict[str, tuple[int, str]] = {}
        self.checkpoints: list[Any] = []
        self.events: list[Any] = []
        self.seal: dict[str, Any] | None = None
        self.after_seal = False
        self.digest = hashlib.sha256()

    def add(self, record: dict, where: str) -> SimpleNamespace:
        kind = record.get("type")
        if self.seal is not None:
            self.after_seal = True
        if kind == "seal":
            if not (type(record.get("events")) is int and type(record.get("streams")) is int
                    and isinstance(record.get("key_id"), str) and isinstance(record.get("hash"), str)):
                raise ValueError("malformed seal")
            self.seal = dict(record, content_sha256=self.digest.hexdigest())
            return SimpleNamespace()
        # The digest the seal covers: each line as archive_partition wrote it.
        self.digest.update(archive_line(record).encode("utf-8"))
        if kind == "header":
            if self.header is not None:
                raise ValueError("a second header")
            if record.get("format") != ARCHIVE_FORMAT:
                raise ValueError(f"format {record.get('format')!r} is not {ARCHIVE_FORMAT!r}")
            self.header = record
        elif self.header is None:
            raise ValueError("the header must come first")
        elif kind == "start":
            if not (isinstance(record["stream"], str) and type(record["seq"]) is int and record["seq"] >= 0
                    and isinstance(record["hash"], str)) or record["stream"] in self.starts:
                raise ValueError("malformed or repeated start")
            self.starts[record["stream"]] = (record["seq"], record["hash"])
        elif kind == "checkpoint":
            self.checkpoints.append(_checkpoint(record, where))
        elif kind == "event":
            self.events.append(_event(record, where))
        else:
            raise ValueError(f"unknown line type {kind!r}")
        return SimpleNamespace()


ARCHIVE_FORMAT = "quorum-audit-archive/1"


def verify_archive(lines: Iterable[str], *, source: str = "archive", anchors: list[Anchor] | None = None,
                   keys: AuditKeyring | None = None, stop_at_first: bool = False) -> VerifyResult:
    """Verifies an archive written by `archive_partition` on its own: each
    stream chains from its recorded start through its events, every hash
    recomputes under the audit keys, the included checkpoints chain from the
    one before them and recompute, every position they record inside the
    archived ranges is present with that hash, and each stream's last
    archived event is recorded by one of them (the archive was fully
    checkpointed). With `anchors`, the included checkpoints must equal their
    anchors (anchors of other checkpoints are not this archive's concern).
    Raises ExportFormatError for a file that is not an archive."""
    from .keys import keyring

    parsed = _Lines()
    _read_lines(lines, source, "archive line", parsed.add)
    if parsed.header is None:
        raise ExportFormatError(f"{source}: no archive header")
    header = parsed.header
    first = header.get("first_checkpoint")
    last = header.get("last_checkpoint")
    if type(first) is not int or type(last) is not int or not isinstance(header.get("first_checkpoint_prev_hash"), str):
        raise ExportFormatError(f"{source}: malformed archive header")
    numbers = sorted(cp.number for cp in parsed.checkpoints)
    in_range = [a for a in (anchors or []) if first <= a.number <= last]
    result = verify_export(events=parsed.events, checkpoints=parsed.checkpoints, anchors=in_range,
                           keys=keys or keyring(), stop_at_first=stop_at_first, starts=parsed.starts,
                           first_checkpoint=(first, header["first_checkpoint_prev_hash"]))
    if result.problems and stop_at_first:
        return result
    result.problems[:0] = _seal_problems(parsed, keys or keyring())
    if result.problems and stop_at_first:
        return result
    if parsed.events and (not numbers or numbers[0] != first or numbers[-1] != last):
        result.problems.append(Problem(f"the archive's checkpoints are not {first} to {last} as its header says"))
    missing = set(parsed.starts) - {e.stream for e in parsed.events}
    for stream in sorted(missing):
        result.problems.append(Problem("a start without events: the stream's archived events were removed",
                                       stream=stream))
    checkpointed: dict[str, int] = {}
    for cp in parsed.checkpoints:
        for stream, seq, _hash in _checkpoint_entries(cp) or ():
            checkpointed[stream] = max(seq, checkpointed.get(stream, seq))
    ends: dict[str, int] = {}
    for event in parsed.events:
        ends[event.stream] = max(event.seq, ends.get(event.stream, event.seq))
    for stream, seq in sorted(ends.items()):
        if checkpointed.get(stream, -1) < seq:
            result.problems.append(Problem(f"no included checkpoint records the stream up to seq {seq}: the archive "
                                           f"was cut short or its last events added", stream=stream, seq=seq))
    return result
