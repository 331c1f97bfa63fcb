"""Checkpoints: the heads of the streams that changed since the previous
checkpoint, chained together; written by a periodic Celery task."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from audit.hashing import GENESIS, checkpoint_hash
from audit.models import AuditCheckpoint, AuditStreamHead
from audit.services import CONFIG_STREAM, _clear_dirty, audit_checkpoint_create
from audit.tasks import audit_checkpoint_task
from audit.verify import verify_audit
from tests.processes import wait_for

from .conftest import Worker, record, wait_until_lock_waiters


def heads_of(*streams):
    return {h.stream: [h.seq, h.hash] for h in AuditStreamHead.objects.filter(stream__in=streams)}


def dirty_streams():
    return set(AuditStreamHead.objects.filter(dirty=True).values_list("stream", flat=True))


@pytest.mark.django_db
def test_nothing_changed_means_no_checkpoint():
    assert audit_checkpoint_create() is None
    record(CONFIG_STREAM)
    assert audit_checkpoint_create() is not None
    assert audit_checkpoint_create() is None
    assert AuditCheckpoint.objects.count() == 1


@pytest.mark.django_db
def test_checkpoints_record_changed_heads_and_chain():
    record(CONFIG_STREAM)
    record("case:1", action="case.opened", new_stream=True)
    record("case:1")
    first = audit_checkpoint_create()
    assert (first.number, first.prev_hash) == (1, GENESIS)
    assert first.heads == heads_of(CONFIG_STREAM, "case:1")
    assert first.heads["case:1"][0] == 2
    assert dirty_streams() == set()

    record("case:1")
    record("case:2", action="case.opened", new_stream=True)
    second = audit_checkpoint_create()
    assert (second.number, second.prev_hash) == (2, first.hash)
    assert second.heads == heads_of("case:1", "case:2")  # config did not change
    assert second.heads["case:1"][0] == 3

    for cp in AuditCheckpoint.objects.all():
        assert cp.hash == checkpoint_hash(number=cp.number, created_at=cp.created_at, heads=cp.heads,
                                         prev_hash=cp.prev_hash, key_id=cp.key_id)
    result = verify_audit()
    assert result.ok and result.checkpoints == 2


@pytest.mark.django_db
def test_a_head_that_moved_after_it_was_read_stays_dirty():
    record(CONFIG_STREAM)
    read_at = AuditStreamHead.objects.get(stream=CONFIG_STREAM).seq
    record(CONFIG_STREAM)  # a writer moves the head meanwhile
    _clear_dirty([(CONFIG_STREAM, read_at)])
    assert dirty_streams() == {CONFIG_STREAM}
    assert audit_checkpoint_create().heads[CONFIG_STREAM][0] == 2


@pytest.mark.django_db
def test_task_writes_a_checkpoint_and_is_scheduled(settings):
    settings.AUDIT_CHECKPOINT_EVERY_EVENTS = 1
    assert audit_checkpoint_task.apply().get() is None
    record(CONFIG_STREAM)
    assert audit_checkpoint_task.apply().get() == 1
    assert audit_checkpoint_task.apply().get() is None
    record(CONFIG_STREAM)
    assert audit_checkpoint_task.apply().get() == 2
    assert audit_checkpoint_task.name == "audit.tasks.audit_checkpoint_task"
    schedule = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert schedule["task"] == audit_checkpoint_task.name
    assert schedule["schedule"].total_seconds() == settings.AUDIT_CHECKPOINT_POLL_SECONDS


@pytest.mark.django_db
def test_task_checkpoints_only_when_the_interval_passed_or_enough_events_were_written(settings):
    settings.AUDIT_CHECKPOINT_EVERY_EVENTS = 3
    settings.AUDIT_CHECKPOINT_SECONDS = 3600
    record(CONFIG_STREAM)
    assert audit_checkpoint_task.apply().get() == 1  # the first one is always due
    record(CONFIG_STREAM)
    record(CONFIG_STREAM)
    assert audit_checkpoint_task.apply().get() is None  # 2 events, 0 s: not yet
    record(CONFIG_STREAM)
    assert audit_checkpoint_task.apply().get() == 2  # the third event makes it due
    record(CONFIG_STREAM)
    settings.AUDIT_CHECKPOINT_SECONDS = 1
    wait_for(lambda: timezone.now() - AuditCheckpoint.objects.get(number=2).created_at >= timedelta(seconds=1),
             timeout=30, what="a second to pass", interval=0.05)
    assert audit_checkpoint_task.apply().get() == 3  # one event, but the interval passed


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("earlier", [0, 1], ids=["first-checkpoint", "later-checkpoint"])
def test_concurrent_checkpoints_serialize(gate, earlier):
    """A checkpoint started while another is still open waits for it and takes
    the next number, instead of colliding on the number."""
    for n in range(earlier):
        record(f"case:early{n}")
        audit_checkpoint_create()
    record("case:1")
    reached, release = gate

    def first():
        with transaction.atomic():
            checkpoint = audit_checkpoint_create()
            reached.set()
            assert release.wait(30)
        return checkpoint

    holder = Worker(first)
    holder.start()
    assert reached.wait(60)
    record("case:2")  # changes after the first checkpoint read the heads
    waiter = Worker(audit_checkpoint_create)
    waiter.start()
    wait_until_lock_waiters(1)
    release.set()
    one, two = holder.value(), waiter.value()
    assert (one.number, two.number) == (earlier + 1, earlier + 2)
    assert two.prev_hash == one.hash
    assert set(one.heads) == {"case:1"} and set(two.heads) == {"case:2"}
    assert dirty_streams() == set()
    assert verify_audit().ok
