import hmac
import threading
import time

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from config.client_ip import client_ip

from . import ratelimit
from .models import ApiClient
from .services import hash_key, parse_key

# Successful look-ups are kept for a moment; a revoked key stops working
# within this many seconds in every process.
_CACHE_SECONDS = 2.0
_cache = {}
_cache_lock = threading.Lock()


def _lookup(key):
    digest = hash_key(key)
    now = time.monotonic()
    hit = _cache.get(digest)
    if hit is not None and now - hit[0] < _CACHE_SECONDS:
        return hit[1]
    prefix = parse_key(key)
    if prefix is None:
        return None
    client = ApiClient.objects.select_related("source").filter(key_prefix=prefix, active=True).first()
    if client is None or not hmac.compare_digest(client.key_hash, digest):
        return None
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[digest] = (now, client)
    return client


def clear_cache():
    with _cache_lock:
        _cache.clear()


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>`. The authenticated principal
    (request.user) is the ApiClient."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts:
            return None
        if parts[0].lower() != self.keyword or len(parts) != 2:
            raise exceptions.AuthenticationFailed("use the header 'Authorization: Bearer <key>'")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            self._refuse(request)
        client = _lookup(key)
        if client is None:
            self._refuse(request)
        return client, None

    def _refuse(self, request):
        allowed, wait = ratelimit.hit_failed_auth(client_ip(request))
        if not allowed:
            raise exceptions.Throttled(wait=wait, detail="too many requests with invalid API keys from this address")
        raise exceptions.AuthenticationFailed("invalid or revoked API key")

    def authenticate_header(self, request):
        return 'Bearer realm="quorum"'


class HasScope(BasePermission):
    """Views declare `required_scope`; the client must hold it."""

    message = "this API key lacks the scope this endpoint requires"

    def has_permission(self, request, view):
        client = request.user
        if not isinstance(client, ApiClient):
            return False
        scope = getattr(view, "required_scope", None)
        if scope is None:
            return False
        if scope not in client.scopes:
            self.message = f"this API key lacks the scope {scope!r}"
            return False
        return True


class ApiClientRateThrottle(BaseThrottle):
    """Token bucket per client across all web processes; past it, 429 with Retry-After."""

    def allow_request(self, request, view):
        client = request.user
        if not isinstance(client, ApiClient):
            return True
        allowed, self._wait = ratelimit.hit(client)
        return allowed

    def wait(self):
        return self._wait
