"""DATABASE_REPLICA_URL against a real streaming replica: a private primary
cluster and a replica made from it with pg_basebackup -R, each on a port of
its own, both stopped at the end. (The shared cluster on 5432 allows no
replication connections, so the test brings its own primary.)

Replay on the replica is paused mid-test, so the figures can tell the two
databases apart: the dashboard reads the replica (it does not see a case
filed meanwhile), everything else reads the primary."""

import json
import subprocess
import sys

import pytest

from tests.processes import ROOT, PostgresInstance, manage

pytestmark = pytest.mark.slow


@pytest.fixture
def primary_and_replica(tmp_path):
    primary, replica = PostgresInstance(), PostgresInstance()
    try:
        primary.init().start()
        replica.base_backup_of(primary).start()
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()


def test_dashboard_reads_the_replica_and_everything_else_the_primary(primary_and_replica, tmp_path):
    primary, replica = primary_and_replica
    url = primary.create_database("quorum_replica")
    env = {
        "PATH": "/usr/bin:/bin", "QUORUM_ENV_FILE": "/dev/null", "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": url, "DATABASE_REPLICA_URL": replica.url("quorum_replica"),
        "SECRET_KEY": "test-only-secret-key-that-is-long-enough-for-django-checks-0123456789",
        "AUDIT_HMAC_KEYS": "test1:test-only-audit-key-0123456789abcdefghijklmnop",
        "SECURE_SSL_REDIRECT": "false", "ALLOWED_HOSTS": "testserver", "CONSOLE_COUNTS_CACHE_SECONDS": "0",
        "QUORUM_VAR_DIR": str(tmp_path / "var"), "LOG_LEVEL": "WARNING",
    }
    manage("migrate", "--noinput", env=env)  # the router migrates the primary only; the replica follows
    result = subprocess.run([sys.executable, "-m", "tests.config.replica_probe"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-5000:] + primary.server_log() + replica.server_log()
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["replica_in_recovery"] is True
    assert seen["caught_up_before_pause"] and seen["backlog_before_pause"] == 1
    assert seen["pause_state"] == "paused"
    # The dashboard's figures come from the replica, which has not replayed the second case ...
    assert seen["backlog_while_paused"] == 1
    # Who may see what comes from the primary: a queue restricted after the replica stopped replaying
    # is hidden at once (the replica alone would still count its case).
    assert seen["lead_backlog_before_restriction"] == 1
    assert seen["lead_backlog_after_restriction"] == 0
    # ... while plain reads, reads in a transaction and a service's writes inside the block use the primary.
    assert seen["cases_on_primary"] == 2
    assert seen["cases_in_replica_block"] == 1
    assert seen["cases_in_transaction_in_replica_block"] == 2
    assert seen["cases_on_primary_after_write_in_block"] == 3
    # A session written a moment ago is found (the primary), so the lagging replica logs nobody out.
    assert seen["dashboard_status"] == 200
    assert seen["caught_up_after_resume"] and seen["backlog_after_resume"] == 3
