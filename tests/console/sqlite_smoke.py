"""Run by test_sqlite_smoke.py in a fresh process on an SQLite database (what
`make run` uses): migrate, load the demo data, then open every console page
as each role, with every filter and sort, and go through claim -> vote.
Prints one line per request and exits 1 on any answer other than expected."""
import os
import re
import sys

import django

sys.path.insert(0, os.getcwd())
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

call_command("migrate", verbosity=0)
call_command("load_demo_data", verbosity=0)

from cases.models import Case  # noqa: E402

failures = []


def check(client, url, expect=200, method="get", data=None):
    response = getattr(client, method)(url, data or {})
    ok = response.status_code == expect
    print(f"{'ok ' if ok else 'BAD'} {method.upper()} {url} -> {response.status_code}")
    if not ok:
        failures.append(url)
    return response


def signed_in(username):
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


moderator, senior, auditor = signed_in("moderator1"), signed_in("senior1"), signed_in("auditor1")
case = Case.objects.filter(closed_at__isnull=True).order_by("opened_at").first()
queue = case.queue.slug
pages = ["/work/", f"/queues/{queue}/", f"/cases/{case.pk}/"]
queue_variants = [f"/queues/{queue}/?sort={s}" for s in ("priority", "oldest", "newest", "due")] + [
    f"/queues/{queue}/?state=in_review&policy=spam&min_priority=1&at_risk=on&jurisdiction=DE",
    f"/queues/{queue}/?jurisdiction=de"]
lead_pages = ["/escalations/", "/appeals/", "/dashboard/", "/dashboard/?window=7d", "/audit/",
              f"/audit/?case={case.pk}&actor=moderator1&action=case.viewed"]
for url in pages + queue_variants:
    check(moderator, url)
for url in pages + queue_variants + lead_pages:
    check(senior, url)
    check(auditor, url)
check(moderator, "/dashboard/", expect=403)
check(auditor, f"/audit/verify/{case.pk}/", expect=302, method="post")
check(auditor, f"/cases/{case.pk}/media/0/reveal/", expect=404, method="post")

# claim -> vote through the pages, as on a moderator's shift
claimed = check(moderator, f"/work/claim/{queue}/", expect=302, method="post")
target = claimed["Location"]
if "/cases/" in target:
    page = check(moderator, target)
    found = re.search(r'name="review" value="([0-9a-f-]+)"', page.content.decode())
    review = found.group(1) if found else ""
    outcome = "no_violation"
    check(moderator, target + "vote/", expect=302, method="post",
          data={"review": review, "outcome": outcome, "policy": "spam", "rationale": "fine"})
else:
    failures.append(f"claim redirected to {target}")
sys.exit(1 if failures else 0)
