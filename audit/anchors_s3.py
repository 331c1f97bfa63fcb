"""The S3 Object Lock anchor sink: every checkpoint becomes one object,
written once in COMPLIANCE mode, so that nobody — not the operator, not the
bucket's owner, not the cloud account's root — can delete or overwrite that
version until its retention ends (docs/security.md).

Off unless AUDIT_ANCHOR_S3_BUCKET is set. The bucket must have been created
with Object Lock enabled (versioning on). The object `<prefix><number>.json`
holds the same JSON line as the anchor file; `read_s3_anchors` reads them back
for `verify_audit --anchors-s3`.

No transaction is open during the PUTs (a long one would hold back the
webhook outbox's watermark): the cursor is read, the checkpoints are PUT in
order, then the cursor moves by compare-and-swap. A checkpoint PUT twice (two
flushers, a crash before the cursor moved) is a second identical version:
harmless. A failure stops the flush at that checkpoint, recorded on the
cursor; the next run (the checkpoint task, every few seconds) goes on from it.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from .anchors import Anchor, AnchorFormatError, anchor_line, read_anchor_record
from .models import AuditAnchorCursor, AuditCheckpoint

S3_SINK = "s3"
log = logging.getLogger(__name__)


def s3_client() -> Any:
    """boto3's S3 client (boto3 ships no type information: mypy.ini ignores its imports)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=settings.AUDIT_ANCHOR_S3_ENDPOINT_URL or None,
                        region_name=settings.AUDIT_ANCHOR_S3_REGION or None,
                        config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}))


def s3_key(number: int) -> str:
    # Zero-padded: keys list in checkpoint order.
    return f"{settings.AUDIT_ANCHOR_S3_PREFIX}{number:012d}.json"


def retain_until(now: datetime) -> datetime:
    return now + timedelta(days=settings.AUDIT_ANCHOR_S3_RETENTION_DAYS)


def anchor_s3_flush(*, batch: int = 100) -> int:
    """PUTs every checkpoint the S3 sink has not taken yet, in number order,
    each with COMPLIANCE retention, and moves the sink's cursor past the ones
    S3 accepted. Returns how many were stored; 0 without a bucket."""
    bucket = settings.AUDIT_ANCHOR_S3_BUCKET
    if not bucket:
        return 0
    from botocore.exceptions import BotoCoreError, ClientError

    client = s3_client()
    total = 0
    while True:
        cursor, _ = AuditAnchorCursor.objects.get_or_create(sink=S3_SINK)
        checkpoints = list(AuditCheckpoint.objects.filter(number__gt=cursor.number).order_by("number")[:batch])
        if not checkpoints:
            return total
        stored, error = cursor.number, ""
        for cp in checkpoints:
            try:
                client.put_object(Bucket=bucket, Key=s3_key(cp.number), Body=anchor_line(cp),
                                  ContentType="application/json", ChecksumAlgorithm="SHA256",
                                  ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=retain_until(timezone.now()))
            except (BotoCoreError, ClientError) as exc:
                error = f"checkpoint {cp.number}: {exc}"[:1000]
                break
            stored = cp.number
        now = timezone.now()
        if error:
            log.warning("audit S3 anchor sink: %s", error)
            AuditAnchorCursor.objects.filter(sink=S3_SINK, number=cursor.number).update(
                number=stored, failures=cursor.failures + 1, last_error=error, updated_at=now)
            return total + stored - cursor.number
        if not AuditAnchorCursor.objects.filter(sink=S3_SINK, number=cursor.number).update(
                number=stored, failures=0, last_error="", updated_at=now):
            return total  # another flusher moved it meanwhile: it goes on
        total += stored - cursor.number


def read_s3_anchors(*, bucket: str | None = None, prefix: str | None = None, client: Any = None) -> list[Anchor]:
    """Every checkpoint object under the prefix, every version of it (an
    overwrite adds a version; Object Lock keeps the first): a version that
    disagrees with another one of the same number shows as contradicting
    anchors (audit.anchors.index_anchors)."""
    bucket = bucket or settings.AUDIT_ANCHOR_S3_BUCKET
    prefix = settings.AUDIT_ANCHOR_S3_PREFIX if prefix is None else prefix
    client = client or s3_client()
    anchors = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            where = f"s3://{bucket}/{version['Key']}?versionId={version['VersionId']}"
            body = client.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise AnchorFormatError(f"{where}: not UTF-8") from None
            anchors.append(read_anchor_record(text, where))
    return anchors
