import re
import uuid

from audit.context import bind_request

from .client_ip import client_ip

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    """Gives each request an id (the caller's X-Request-ID if it is sane) and
    makes it and the client address available to audit.record()."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        with bind_request(request_id=request_id, ip=client_ip(request)):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class ChunkedBodyMiddleware:
    """Reads a `Transfer-Encoding: chunked` body, which Django alone would see
    as empty (it reads CONTENT_LENGTH bytes, and a chunked request has none),
    so a chunked report is parsed like any other instead of failing with a
    misleading "subject: required".

    Only when the server has de-chunked the stream and marks its end
    (`wsgi.input_terminated`, as gunicorn does); otherwise 411. At most
    DATA_UPLOAD_MAX_MEMORY_SIZE bytes (the largest body any endpoint takes) are
    read: past that 413 at once; below it the body gets a Content-Length, so
    each endpoint's own, smaller limit answers 413 exactly as for a body sent
    with a length."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        encoding = request.META.get("HTTP_TRANSFER_ENCODING", "")
        if encoding and "chunked" in encoding.lower() and not request.META.get("CONTENT_LENGTH"):
            refused = self._read(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _read(self, request):
        import io

        from django.conf import settings
        from django.core.handlers.wsgi import LimitedStream

        if not request.META.get("wsgi.input_terminated"):
            return _plain_error(request, 411, "length_required",
                                "this server cannot read a chunked body here: send Content-Length")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        source = request.META["wsgi.input"]
        parts, size = [], 0
        while size <= limit:
            chunk = source.read(min(65536, limit + 1 - size))
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        if size > limit:
            return _plain_error(request, 413, "payload_too_large", f"request body is over the limit of {limit} bytes")
        body = b"".join(parts)
        request.META["CONTENT_LENGTH"] = str(len(body))
        request._stream = LimitedStream(io.BytesIO(body), len(body))
        return None


def _plain_error(request, status, code, detail):
    from django.http import HttpResponse, JsonResponse

    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": detail, "code": code, "errors": []}, status=status)
    else:
        response = HttpResponse(detail + "\n", status=status, content_type="text/plain; charset=utf-8")
    response["Connection"] = "close"
    return response
