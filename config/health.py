"""Probes for orchestrators and Prometheus metrics."""

import os

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from .client_ip import client_ip
from .metrics import SWEEPS


@never_cache
def healthz(request):
    """The process is up."""
    return JsonResponse({"status": "ok"})


def _check_broker():
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "")
        if not os.access(folder, os.W_OK):
            raise OSError(f"broker folder {folder} is not writable")
        return
    if url.startswith(("redis://", "rediss://")):
        import redis

        redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping()
        return
    from kombu import Connection

    with Connection(url, connect_timeout=1) as conn:
        conn.ensure_connection(max_retries=1)


@never_cache
def readyz(request):
    """Ready when the database and the broker answer and the periodic sweeps
    ran recently (a dead beat or worker means deadlines are not enforced)."""
    from reviews.models import Heartbeat

    checks, ok = {}, True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        return JsonResponse({"status": "unavailable", "database": str(exc)[:200]}, status=503)
    try:
        _check_broker()
        checks["broker"] = "ok"
    except Exception as exc:
        ok, checks["broker"] = False, f"unreachable: {str(exc)[:200]}"
    now = timezone.now()
    beats = {b.name: b.last_run_at for b in Heartbeat.objects.filter(name__in=SWEEPS)}
    for name in SWEEPS:
        last = beats.get(name)
        if last is None:
            ok, checks[name] = False, "never ran"
        elif (now - last).total_seconds() > settings.SWEEP_STALE_SECONDS:
            ok, checks[name] = False, f"last ran {int((now - last).total_seconds())} s ago"
        else:
            checks[name] = "ok"
    return JsonResponse({"status": "ok" if ok else "unavailable", **checks}, status=200 if ok else 503)


def _allowed(request):
    token = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        import hmac

        return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())
    if settings.TRUSTED_PROXY_NETWORKS:
        # Behind a proxy every request arrives from the proxy's address, so an
        # address allow-list would admit the whole internet: the token is required.
        return False
    return client_ip(request) in settings.METRICS_ALLOWED_IPS


@never_cache
def metrics(request):
    """Prometheus text format (prometheus_client). Protected by METRICS_TOKEN (Bearer) when set,
    otherwise by the METRICS_ALLOWED_IPS allow-list (default: loopback) of
    client addresses; with TRUSTED_PROXIES set, only by the token."""
    if not _allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

    from . import metrics as m

    return HttpResponse(m.render(now=timezone.now()), content_type=CONTENT_TYPE_PLAIN_0_0_4)
