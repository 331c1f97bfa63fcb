"""Security headers for the console (and every other HTML page).

The Content-Security-Policy allows nothing inline and no third-party origin
except the media hosts an admin listed in CONSOLE_MEDIA_ORIGINS (images only):
reported content is hostile, and escaping is the first defence, this the
second."""
from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import timezone, translation


def content_security_policy():
    img = " ".join(["'self'", "data:", *settings.CONSOLE_MEDIA_ORIGINS])
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src {img}",
        "media-src 'none'",
        "object-src 'none'",
        "frame-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
    ])


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = content_security_policy()

    def __call__(self, request):
        response = self.get_response(request)
        # The API docs page (Swagger UI) needs inline script; everything else gets the strict policy.
        if not request.path.startswith("/api/docs"):
            response.setdefault("Content-Security-Policy", self.policy)
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        return response


class ConsoleLocaleMiddleware(LocaleMiddleware):
    """The console follows the user's language; the REST API, health and
    metrics endpoints always answer in English so that platforms see stable
    error texts whatever Accept-Language their HTTP library sends."""

    ENGLISH_ONLY = ("/api/", "/healthz", "/readyz", "/metrics")

    def process_request(self, request):
        if request.path.startswith(self.ENGLISH_ONLY):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return
        super().process_request(request)

    def process_response(self, request, response):
        if request.path.startswith(self.ENGLISH_ONLY):
            return response
        return super().process_response(request, response)


class ConsoleTimeZoneMiddleware:
    """Shows times in the user's zone (console.preferences.time_zone_for); after the session
    middleware. The zone's name is on request.time_zone_name for the templates' label."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from .preferences import time_zone_for

        request.time_zone_name = time_zone_for(request)
        timezone.activate(request.time_zone_name)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
