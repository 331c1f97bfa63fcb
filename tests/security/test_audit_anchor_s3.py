"""The S3 Object Lock anchor sink, against a real S3-compatible HTTP server
on 127.0.0.1 (moto's server, in a thread: outside the product, like the
witness): every checkpoint one object in COMPLIANCE mode, in order, once;
an unreachable S3 loses nothing; what the bucket holds catches a key
holder's rewrite, and an overwritten object contradicts its first version.

moto emulates Object Lock far enough for this: it stores the mode and the
retain-until date and refuses to delete a locked version. (It does not refuse
shortening a COMPLIANCE retention, which real S3 does; nothing here relies
on that.)"""

import json
import urllib.request
from datetime import timedelta
from io import StringIO

import boto3
import pytest
from botocore.exceptions import ClientError
from django.core.management import CommandError, call_command
from django.utils import timezone
from moto.server import ThreadedMotoServer

from audit.anchors import anchor_line, index_anchors
from audit.anchors_s3 import S3_SINK, anchor_s3_flush, read_s3_anchors, s3_key
from audit.models import AuditAnchorCursor, AuditCheckpoint
from audit.services import CONFIG_STREAM, audit_checkpoint_create
from audit.tasks import audit_checkpoint_task
from audit.verify import verify_audit
from tests.audit.conftest import record
from tests.processes import free_port

from .test_audit_anchors import anchor_file, event_at, tamper, trail  # noqa: F401

pytestmark = pytest.mark.django_db

BUCKET = "quorum-anchors"


@pytest.fixture
def s3_server(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # Credentials as boto3 reads them in production (its usual chain); the test server accepts any.
    for name, value in (("AWS_ACCESS_KEY_ID", "test-key"), ("AWS_SECRET_ACCESS_KEY", "test-secret"),
                        ("AWS_SESSION_TOKEN", "test-token")):
        monkeypatch.setenv(name, value)
    url = f"http://{host}:{port}"
    try:
        yield url
    finally:
        # moto keeps its buckets per process: empty them for the next test.
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()
        server.stop()


@pytest.fixture
def s3(s3_server, settings):
    settings.AUDIT_ANCHOR_S3_BUCKET = BUCKET
    settings.AUDIT_ANCHOR_S3_ENDPOINT_URL = s3_server
    settings.AUDIT_ANCHOR_S3_REGION = "eu-central-1"
    settings.AUDIT_ANCHOR_S3_PREFIX = "audit/"
    settings.AUDIT_ANCHOR_S3_RETENTION_DAYS = 30
    client = boto3.client("s3", endpoint_url=s3_server, region_name="eu-central-1")
    client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True,
                         CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    return client


def checkpoints(n):
    for i in range(n):
        record(CONFIG_STREAM, data={"i": i})
        audit_checkpoint_create()
    return list(AuditCheckpoint.objects.order_by("number"))


def test_every_checkpoint_is_stored_once_in_compliance_mode_in_order(s3):
    taken = checkpoints(3)
    before = timezone.now()
    assert anchor_s3_flush() == 3
    assert anchor_s3_flush() == 0  # nothing new: nothing stored again
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="audit/")["Contents"]]
    assert keys == [s3_key(cp.number) for cp in taken] == ["audit/000000000001.json", "audit/000000000002.json",
                                                           "audit/000000000003.json"]
    for cp in taken:
        head = s3.head_object(Bucket=BUCKET, Key=s3_key(cp.number))
        assert head["ObjectLockMode"] == "COMPLIANCE"
        until = head["ObjectLockRetainUntilDate"]
        assert before + timedelta(days=30) - timedelta(minutes=5) <= until <= timezone.now() + timedelta(days=30)
        body = s3.get_object(Bucket=BUCKET, Key=s3_key(cp.number))["Body"].read()
        assert body == anchor_line(cp)  # the anchor file's line
        assert json.loads(body) == {"number": cp.number, "hash": cp.hash, "prev_hash": cp.prev_hash,
                                    "key_id": cp.key_id, "streams": len(cp.heads),
                                    "created_at": cp.created_at.isoformat(timespec="microseconds")}
    assert AuditAnchorCursor.objects.get(sink=S3_SINK).number == 3
    # Locked: the version cannot be deleted, not even by the bucket's owner.
    version = s3.head_object(Bucket=BUCKET, Key=s3_key(1))["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=BUCKET, Key=s3_key(1), VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_an_unreachable_s3_loses_nothing(s3, settings):
    settings.AUDIT_ANCHOR_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens
    checkpoints(2)
    assert anchor_s3_flush() == 0
    cursor = AuditAnchorCursor.objects.get(sink=S3_SINK)
    assert (cursor.number, cursor.failures) == (0, 1) and "checkpoint 1:" in cursor.last_error
    checkpoints(1)
    settings.AUDIT_ANCHOR_S3_ENDPOINT_URL = s3.meta.endpoint_url  # back
    assert audit_checkpoint_task.apply().get() is None  # nothing due; the S3 sink catches up
    assert [a.number for a in read_s3_anchors()] == [1, 2, 3]
    cursor.refresh_from_db()
    assert (cursor.number, cursor.failures, cursor.last_error) == (3, 0, "")


def test_the_bucket_catches_a_key_holders_rewrite(trail, anchor_file, s3):  # noqa: F811
    assert anchor_s3_flush() == 2
    stored = read_s3_anchors()
    assert verify_audit(anchors=stored).ok
    victim = event_at(trail, 2)
    tamper([("UPDATE audit_auditevent SET data = jsonb_set(data, '{policy}', '\"no_violation\"') WHERE id = %s",
             [victim.pk])])
    assert verify_audit().ok  # consistent rewrite under the key
    result = verify_audit(anchors=read_s3_anchors())
    assert not result.ok and "checkpoint 1 differs from its anchor (s3://quorum-anchors/audit/000000000001.json" in str(
        result.problems[0])
    with pytest.raises(CommandError, match="differs from its anchor"):
        call_command("verify_audit", "--anchors-s3", "--no-anchor-file", stdout=StringIO(), stderr=StringIO())


def test_an_overwritten_object_contradicts_its_locked_first_version(s3):
    checkpoints(1)
    assert anchor_s3_flush() == 1
    out = StringIO()
    call_command("verify_audit", "--anchors-s3", "--no-anchor-file", stdout=out)
    assert "1 anchored (last: 1)" in out.getvalue()
    forged = s3.get_object(Bucket=BUCKET, Key=s3_key(1))["Body"].read().replace(b'"hash":"', b'"hash":"0')
    s3.put_object(Bucket=BUCKET, Key=s3_key(1), Body=forged)  # a new version; the locked one stays
    _by_number, conflicts = index_anchors(read_s3_anchors())
    assert len(conflicts) == 1 and conflicts[0].startswith("anchors disagree on checkpoint 1")
    with pytest.raises(CommandError, match="anchors disagree on checkpoint 1"):
        call_command("verify_audit", "--anchors-s3", "--no-anchor-file", stdout=StringIO(), stderr=StringIO())


def test_off_by_default(settings):
    assert settings.AUDIT_ANCHOR_S3_BUCKET == ""
    checkpoints(1)
    assert anchor_s3_flush() == 0
    assert not AuditAnchorCursor.objects.filter(sink=S3_SINK).exists()
