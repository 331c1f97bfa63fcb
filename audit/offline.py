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

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from types import SimpleNamespace

from django.utils.dateparse import parse_datetime

from .anchors import Anchor, index_anchors
from .hashing import GENESIS
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
                  stop_at_first: bool = False) -> VerifyResult:
    result = VerifyResult()

    def fail(problem: Problem) -> bool:
        result.problems.append(problem)
        return stop_at_first

    anchored, conflicts = index_anchors(anchors)
    for conflict in conflicts:
        if fail(Problem(conflict)):
            return result
    prev_hash, expected, keyed, seal = GENESIS, 1, False, None
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
    stream, expected_seq, prev, stream_keyed = None, 1, GENESIS, False
    for event in sorted(events, key=lambda e: (e.stream, e.seq)):
        result.events += 1
        if event.stream != stream:
            stream, expected_seq, prev, stream_keyed = event.stream, 1, GENESIS, False
            result.streams += 1
            if stream.startswith("case:") and not (event.seq == 1 and event.action == "case.opened"):
                if fail(Problem("the case's stream does not start with case.opened", stream=stream, seq=event.seq)):
                    return result
        for problem in event_problems(event, expected_seq=expected_seq, prev=prev, keyed=stream_keyed, keys=keys,
                                      seal=seal):
            if fail(problem):
                return result
        stream_keyed = stream_keyed or bool(event.key_id)
        by_position[(event.stream, event.seq)] = event
        expected_seq, prev = event.seq + 1, event.hash
    for cp in sorted(checkpoints, key=lambda c: c.number):
        for s, seq, hash_ in _checkpoint_entries(cp) or ():
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
