"""Anchor sinks: copies of every checkpoint kept outside the database.

A checkpoint's hash is an HMAC over the heads of the streams it covers and
the previous checkpoint's hash, so the anchored (number, hash) pairs pin every
checkpointed event: rewriting, removing, inserting or re-ordering an event
older than the last anchored checkpoint changes a hash that the anchors
still hold, even for someone who holds the audit key (docs/security.md).

This module owns the local file sink (one JSON line per checkpoint, appended
with O_APPEND and fsync; make the file append-only with `chattr +a`), the
cursors every sink advances, and reading anchors back for verification. The
witness sink (a signed HTTP POST) lives in integrations, above this layer:
it moves its cursor (`anchor_cursor_take`/`anchor_cursor_move`) as it turns
checkpoints into deliveries of the webhook outbox.
"""

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import AuditAnchorCursor, AuditCheckpoint

FILE_SINK = "file"
WITNESS_SINK = "witness"


class AnchorFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Anchor:
    number: int
    hash: str
    key_id: str = ""
    created_at: str = ""
    source: str = ""  # file name and line, for messages


def anchor_line(checkpoint: AuditCheckpoint) -> bytes:
    return (json.dumps(checkpoint.anchor_record(), sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def append_anchor_lines(path: str, lines: list[bytes]) -> None:
    """Appends `lines` with one write on an O_APPEND descriptor (so nothing
    can land in the middle, and a file with `chattr +a` accepts it), then
    fsyncs the file before returning."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        data = b"".join(lines)
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    finally:
        os.close(fd)


def anchor_file_flush(*, path: str | None = None, batch: int = 1000) -> int:
    """Appends every checkpoint the file sink has not taken yet, in number
    order, and advances its cursor. Returns how many were appended.

    Runs under the cursor's row lock, so two flushers never append the same
    checkpoint twice in a row; a crash after the fsync and before the commit
    appends those lines again next time, which verification accepts (an
    identical line repeated)."""
    path = path if path is not None else settings.AUDIT_ANCHOR_FILE
    if not path:
        return 0
    return anchor_cursor_drain(FILE_SINK, lambda checkpoints: append_anchor_lines(
        path, [anchor_line(cp) for cp in checkpoints]), batch=batch)


def anchor_cursor_drain(sink: str, hand_on: Callable[[list[AuditCheckpoint]], None], *, batch: int = 1000) -> int:
    """Hands every checkpoint after `sink`'s cursor to `hand_on`, `batch` at
    a time in number order, each batch in one transaction under the cursor's
    row lock that also moves the cursor past it (so two callers never hand
    on the same checkpoint; if `hand_on` raises, the cursor stays). Returns
    how many were handed on."""
    total = 0
    while True:
        with transaction.atomic():
            _position, checkpoints = anchor_cursor_take(sink, limit=batch)
            if not checkpoints:
                return total
            hand_on(checkpoints)
            anchor_cursor_move(sink, number=checkpoints[-1].number)
            total += len(checkpoints)


def anchor_cursor_take(sink: str, *, limit: int) -> tuple[int, list[AuditCheckpoint]]:
    """(cursor position, up to `limit` checkpoints after it, oldest first)
    for `sink`, with the cursor row locked until the caller's transaction
    ends: call it inside one, hand the checkpoints on, then
    anchor_cursor_move() in the same transaction."""
    AuditAnchorCursor.objects.get_or_create(sink=sink)
    cursor = AuditAnchorCursor.objects.select_for_update().get(sink=sink)
    return cursor.number, list(AuditCheckpoint.objects.filter(number__gt=cursor.number).order_by("number")[:limit])


def anchor_cursor_move(sink: str, *, number: int) -> None:
    AuditAnchorCursor.objects.filter(sink=sink).update(number=number, failures=0, last_error="",
                                                       updated_at=timezone.now())


def read_anchors(path: str | Path) -> list[Anchor]:
    """Anchors from a file of JSON lines: the file sink's own format, or a
    witness's export (any JSON lines with at least "number" and "hash", or
    the witness POST bodies, which carry them under "checkpoint")."""
    anchors = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                anchors.append(read_anchor_record(line, f"{path}:{line_number}"))
    return anchors


def read_anchor_record(text: str, where: str) -> Anchor:
    """One anchor from one JSON text (a line of a file, an S3 object); `where` names it in messages."""
    try:
        record = json.loads(text)
    except ValueError:
        raise AnchorFormatError(f"{where}: not a JSON line") from None
    if isinstance(record, dict) and isinstance(record.get("checkpoint"), dict):
        record = record["checkpoint"]
    if not (isinstance(record, dict) and type(record.get("number")) is int and isinstance(record.get("hash"), str)):
        raise AnchorFormatError(f"{where}: needs an integer \"number\" and a string \"hash\"")
    return Anchor(number=record["number"], hash=record["hash"], key_id=str(record.get("key_id", "")),
                  created_at=str(record.get("created_at", "")), source=where)


def index_anchors(anchors: Iterable[Anchor]) -> tuple[dict[int, Anchor], list[str]]:
    """{number: anchor} and the contradictions among the anchors themselves
    (two different hashes for one number). Identical repeats are fine."""
    by_number: dict[int, Anchor] = {}
    conflicts = []
    for anchor in anchors:
        seen = by_number.get(anchor.number)
        if seen is None:
            by_number[anchor.number] = anchor
        elif seen.hash != anchor.hash:
            conflicts.append(f"anchors disagree on checkpoint {anchor.number}: {seen.source} and {anchor.source}")
    return by_number, conflicts


