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
