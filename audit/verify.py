"""Walks every hash chain and checkpoint and names the first problem."""

from dataclasses import dataclass, field

from .hashing import GENESIS, checkpoint_hash, hash_of_event
from .models import AuditCheckpoint, AuditEvent, AuditStreamHead


@dataclass
class Problem:
    message: str
    event_id: int | None = None
    stream: str = ""
    seq: int | None = None

    def __str__(self):
        where = f"event id={self.event_id} " if self.event_id is not None else ""
        position = f"(stream {self.stream!r} seq {self.seq}) " if self.stream else ""
        return f"{where}{position}{self.message}".strip()


@dataclass
class VerifyResult:
    events: int = 0
    streams: int = 0
    checkpoints: int = 0
    problems: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.problems


def verify_audit(*, stop_at_first=True, chunk_size=5000):
    result = VerifyResult()

    def fail(problem):
        result.problems.append(problem)
        return stop_at_first

    # Checkpoints first: they say which (stream, seq, hash) must exist.
    required = {}
    prev_hash, expected_number = GENESIS, 1
    for cp in AuditCheckpoint.objects.order_by("number").iterator(chunk_size=chunk_size):
        result.checkpoints += 1
        if cp.number != expected_number:
            if fail(Problem(f"checkpoint {expected_number} is missing (found {cp.number} next)")):
                return result
        if cp.prev_hash != prev_hash:
            if fail(Problem(f"checkpoint {cp.number} does not chain to checkpoint {cp.number - 1}")):
                return result
        if checkpoint_hash(number=cp.number, created_at=cp.created_at, heads=cp.heads, prev_hash=cp.prev_hash) != cp.hash:
            if fail(Problem(f"checkpoint {cp.number} was altered (hash mismatch)")):
                return result
        for stream, (seq, hash_) in cp.heads.items():
            required[(stream, seq)] = (hash_, cp.number)
        prev_hash, expected_number = cp.hash, cp.number + 1

    last = {}
    stream, expected_seq, prev = None, 1, GENESIS
    for event in AuditEvent.objects.order_by("stream", "seq").iterator(chunk_size=chunk_size):
        result.events += 1
        if event.stream != stream:
            if stream is not None:
                last[stream] = (expected_seq - 1, prev)
            stream, expected_seq, prev = event.stream, 1, GENESIS
            result.streams += 1
        where = dict(event_id=event.pk, stream=event.stream, seq=event.seq)
        if event.seq != expected_seq:
            message = (
                f"expected seq {expected_seq}: event(s) before it were removed"
                if event.seq > expected_seq else f"duplicate or re-ordered position (expected seq {expected_seq})"
            )
            if fail(Problem(message, **where)):
                return result
        if event.prev_hash != prev:
            if fail(Problem("does not chain to the event before it (removed, inserted or re-ordered)", **where)):
                return result
        if hash_of_event(event) != event.hash:
            if fail(Problem("content was altered (hash mismatch)", **where)):
                return result
        checkpointed = required.pop((event.stream, event.seq), None)
        if checkpointed is not None and checkpointed[0] != event.hash:
            if fail(Problem(f"differs from the hash recorded in checkpoint {checkpointed[1]}", **where)):
                return result
        expected_seq, prev = event.seq + 1, event.hash
    if stream is not None:
        last[stream] = (expected_seq - 1, prev)

    for (stream_name, seq), (_hash, number) in sorted(required.items()):
        if fail(Problem(f"recorded in checkpoint {number} but missing: the event or its whole stream was removed",
                        stream=stream_name, seq=seq)):
            return result

    for head in AuditStreamHead.objects.exclude(seq=0).iterator(chunk_size=chunk_size):
        found = last.get(head.stream)
        if found is None:
            message = "the stream head exists but the stream has no events: the stream was removed"
        elif found[0] < head.seq:
            message = f"the stream ends at seq {found[0]}: its last event(s) were removed"
        elif found[0] > head.seq or found[1] != head.hash:
            message = "the stream has an event that audit.record() did not write (appended or replaced)"
        else:
            continue
        if fail(Problem(message, stream=head.stream, seq=head.seq)):
            return result
    return result
