"""Redis unreachable (pointed at a port where nothing listens): every console
page works, API intake works, and each component's choice is the documented
one — the cache and the API rate limiter fail open, the sign-in limiter (in
PostgreSQL) stays closed — logged and counted in /metrics."""
import logging
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse
from prometheus_client.mmap_dict import MmapedDict

from config import degraded
from integrations import ratelimit
from tests.processes import free_port

from .gunicorn import running_gunicorn


@pytest.fixture
def redis_down():
    url = f"redis://127.0.0.1:{free_port()}/0"
    caches = {"default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": url,
                          "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    saved = ratelimit._limiter
    with override_settings(CACHES=caches, REDIS_URL=url):
        ratelimit._limiter = None
        try:
            yield url
        finally:
            ratelimit._limiter = saved


def _count(text, component, mode):
    match = re.search(rf'quorum_degraded_operations_total\{{component="{component}",mode="{mode}"\}} (\d+)', text)
    return int(match.group(1)) if match else 0


def test_the_redis_cache_really_is_unreachable(redis_down):
    before = degraded.counts().get(("cache", "fail_open"), 0)
    cache.set("k", 1)
    assert cache.get("k") is None
    assert degraded.counts()[("cache", "fail_open")] == before + 2


@override_settings(CONSOLE_COUNTS_CACHE_SECONDS=10)  # as in production: My work shares its counts in the cache
def test_every_console_page_works(redis_down, people, file_case, caplog):
    case_id = file_case(policy="spam")
    caplog.set_level(logging.WARNING, logger="quorum.degraded")
    degraded._logged_at.clear()
    client = Client()
    response = client.post(reverse("console:login"), {"username": "senior1", "password": "x-senior1"})
    assert response.status_code == 302
    for name, args in (("console:my-work", ()), ("console:queue", ("general",)), ("console:escalations", ()),
                       ("console:appeals", ()), ("console:case", (case_id,)), ("console:dashboard", ())):
        response = client.get(reverse(name, args=args))
        assert response.status_code == 200, (name, response.status_code)
    auditor = Client()
    auditor.force_login(people["auditor"])
    assert auditor.get(reverse("console:audit")).status_code == 200
    verified = auditor.post(reverse("console:audit-verify", args=[case_id]), follow=True)
    assert verified.status_code == 200 and verified.redirect_chain
    # My work could not read or store its shared counts: logged once, counted every time.
    assert any("cache degraded (fail_open)" in r.getMessage() for r in caplog.records)
    # A vote (a write) works too.
    moderator = Client()
    moderator.force_login(people["moderators"][0])
    assert moderator.post(reverse("console:claim-next", args=["general"])).status_code in (302, 303)


@override_settings(AXES_FAILURE_LIMIT=3)
def test_the_sign_in_limiter_stays_closed(redis_down, people):
    client = Client(REMOTE_ADDR="198.51.100.61")
    for _ in range(2):
        assert client.post(reverse("console:login"), {"username": "mod1", "password": "wrong"}).status_code == 400
    # The third failure reaches the limit and is answered with the lock; so is the right password.
    assert client.post(reverse("console:login"), {"username": "mod1", "password": "wrong"}).status_code == 429
    assert client.post(reverse("console:login"), {"username": "mod1", "password": "x-mod1"}).status_code == 429


def test_api_intake_fails_open_and_metrics_count_it(redis_down, api, report_body):
    before = degraded.counts().get(("api_rate_limiter", "fail_open"), 0)
    for i in range(3):
        assert api.post("/api/v1/reports", report_body(external_id=f"rd-{i}"), format="json").status_code == 201
    assert degraded.counts()[("api_rate_limiter", "fail_open")] == before + 3
    text = Client().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert _count(text, "api_rate_limiter", "fail_open") == before + 3


def test_metrics_add_up_the_degraded_counts_of_every_gunicorn_worker(db, tmp_path):
    """Under gunicorn with two workers, whichever worker answers the scrape
    reports the sum of what both counted (prometheus_client multiprocess)."""
    prom_dir = tmp_path / "prometheus"
    env = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "PROMETHEUS_MULTIPROC_DIR": str(prom_dir),
           "METRICS_TOKEN": "metrics-token-for-the-test"}
    requests = 40

    def refused_key(_n):  # an invalid key: the per-address limiter needs Redis, fails open, counts it
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/cases",
                                     headers={"Authorization": "Bearer qk_nobody_" + "x" * 30})
        try:
            urllib.request.urlopen(req, timeout=60)
        except urllib.error.HTTPError as exc:
            return exc.code
        return 200

    def scrape():
        req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers={"Authorization": "Bearer metrics-token-for-the-test"})
        with urllib.request.urlopen(req, timeout=60) as response:
            return _count(response.read().decode(), "api_rate_limiter", "fail_open")

    with running_gunicorn(tmp_path, workers=2, env=env) as port:
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(refused_key, range(requests))) == {401}
        per_worker = []
        for path in prom_dir.glob("counter_*.db"):
            values = MmapedDict.read_all_values_from_file(str(path))
            per_worker.append(sum(v for key, v, *_ in values if "quorum_degraded_operations" in key
                                  and "api_rate_limiter" in key))
        # Both workers counted some (else the test would prove nothing), and every scrape shows the sum.
        assert sorted(n > 0 for n in per_worker).count(True) == 2, per_worker
        assert sum(per_worker) == requests
        assert [scrape() for _ in range(6)] == [requests] * 6
