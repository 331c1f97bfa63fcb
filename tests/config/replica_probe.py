"""Runs Quorum against a primary (DATABASE_URL) and its streaming replica
(DATABASE_REPLICA_URL) and prints, as JSON, what each read saw while the
replica's replay was paused and after it resumed. Test tooling for
tests/config/test_replica.py, not product code.

    DATABASE_URL=... DATABASE_REPLICA_URL=... python -m tests.config.replica_probe
"""

import json
import os
import sys
import time


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

    from django.contrib.auth.models import Group, User
    from django.db import connections, transaction
    from django.test import Client

    from cases.models import Case, Queue
    from config.dbrouter import replica_reads
    from reviews.stats import dashboard_figures
    from tests.seeding import prepare_filing

    file = prepare_filing(extra_users=[("auditor1", "auditor")])
    auditor = User.objects.get(username="auditor1")

    def backlog(user=None):
        return sum(q.open + q.in_review + q.escalated + q.on_hold for q in dashboard_figures(user=user).backlog)

    primary, replica = connections["default"], connections["replica"]

    def caught_up():
        with primary.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()")
            target = cursor.fetchone()[0]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with replica.cursor() as cursor:
                cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
                if cursor.fetchone()[0]:
                    return True
            time.sleep(0.05)
        return False

    out = {}
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        out["replica_in_recovery"] = cursor.fetchone()[0]
    file("before-pause")
    out["caught_up_before_pause"] = caught_up()
    out["backlog_before_pause"] = backlog()

    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 30
        while True:
            cursor.execute("SELECT pg_get_wal_replay_pause_state()")
            out["pause_state"] = cursor.fetchone()[0]
            if out["pause_state"] == "paused" or time.monotonic() > deadline:
                break
            time.sleep(0.05)

    file("while-paused")
    out["backlog_while_paused"] = backlog()  # the dashboard: the replica, which has not seen the new case
    out["cases_on_primary"] = Case.objects.count()  # everything else: the primary
    # A queue restricted a moment ago (on the primary; the paused replica has not heard of it): a lead
    # outside the allowed group must not see its cases in the figures, which come from the replica.
    lead = User.objects.get(username="senior1")
    out["lead_backlog_before_restriction"] = backlog(lead)
    Queue.objects.get(slug="general").restricted_to.add(Group.objects.get(name="admin"))
    out["lead_backlog_after_restriction"] = backlog(lead)
    Queue.objects.get(slug="general").restricted_to.clear()
    with replica_reads():
        out["cases_in_replica_block"] = Case.objects.count()
        with transaction.atomic():
            out["cases_in_transaction_in_replica_block"] = Case.objects.count()
        file("filed-in-replica-block")  # a service inside the block writes (and reads) the primary
    out["cases_on_primary_after_write_in_block"] = Case.objects.count()

    # A console page right after a login: the session just written is read from the primary.
    client = Client()
    client.force_login(auditor)
    response = client.get("/dashboard/")
    out["dashboard_status"] = response.status_code

    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")
    out["caught_up_after_resume"] = caught_up()
    out["backlog_after_resume"] = backlog()
    connections.close_all()
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
