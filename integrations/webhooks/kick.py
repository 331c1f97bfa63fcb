"""After a successful write through the REST API (a report, an appeal),
asks a worker to dispatch webhooks now rather than at the next beat tick.

Integrations is the one layer allowed to know about webhooks, and the API
is where it writes: the lower layers (cases, reviews) are not touched, and
their writes from the console or the sweeps reach platforms by the beat
tick (every WEBHOOK_DISPATCH_SECONDS)."""

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ..models import EndpointPurpose, WebhookEndpoint

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
_CACHE_SECONDS = 5.0
_cache: dict[str, float | bool] = {"at": -_CACHE_SECONDS, "any": False}


def _any_endpoint() -> bool:
    now = time.monotonic()
    if now - _cache["at"] > _CACHE_SECONDS:
        # The audit witness's deliveries come from checkpoints (its own beat task), not from API writes.
        _cache["any"] = WebhookEndpoint.objects.filter(active=True, paused_at__isnull=True,
                                                       purpose=EndpointPurpose.WEBHOOK).exists()
        _cache["at"] = now
    return bool(_cache["any"])


class WebhookKickMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (request.method in _WRITES and 200 <= response.status_code < 300 and request.path.startswith("/api/v1/")
                and _any_endpoint()):
            from ..tasks import kick_dispatch

            kick_dispatch()
        return response
