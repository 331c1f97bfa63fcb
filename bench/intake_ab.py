"""Service-level A/B of intake (no HTTP): run from the root of each checkout
against the same migrated database, e.g.
`DATABASE_URL=postgres://postgres@127.0.0.1:5432/q_ab QUORUM_ENV_FILE=/dev/null SECRET_KEY=x DEBUG=true
.venv/bin/python bench/intake_ab.py LABEL` — prints the median time of a
500-report batch (of 5, after one warm-up) and of a single new-subject report
(of 180, after 20). Used for the G5 batch check in BENCHMARKS.md."""

import os
import statistics
import sys
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django  # noqa: E402

django.setup()
from audit.context import Actor  # noqa: E402
from cases.models import Policy, Source  # noqa: E402
from cases.services import ReportInput, SubjectInput  # noqa: E402
from reviews.intake import report_intake, report_intake_batch  # noqa: E402

tag = sys.argv[1]
actor = Actor.system("ab")
source, _ = Source.objects.get_or_create(name="ab")
spam = Policy.objects.get(code="spam")


def items(prefix, n):
    return [ReportInput(subject=SubjectInput(kind="account", external_id=f"{prefix}-{i}",
                                             fields={"display_name": "x", "metadata": {"followers_count": i}},
                                             as_received={}),
                        policy=spam, reporter_kind="user", reporter_external_id=f"r{i}") for i in range(n)]


times = []
for rnd in range(6):
    its = items(f"{tag}-{rnd}", 500)
    t = time.perf_counter()
    report_intake_batch(source=source, api_client_id=None, actor=actor, items=its)
    times.append(time.perf_counter() - t)
singles = []
for rnd in range(200):
    t = time.perf_counter()
    report_intake(source=source, api_client_id=None, actor=actor, item=items(f"{tag}-s{rnd}", 1)[0])
    singles.append(time.perf_counter() - t)
print(tag, "batch500 median s", round(statistics.median(times[1:]), 3),
      "single median ms", round(1000 * statistics.median(singles[20:]), 2))
