"""What every REST view shares: the base class, the error responses the
schema lists, and small input helpers."""

import uuid

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.views import APIView

from audit.context import Actor

from ..auth import ApiClientRateThrottle
from ..errors import error_body
from . import serializers as s

ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="malformed input; `errors` names each field and reason"),
    401: OpenApiResponse(s.ErrorSerializer, description="missing or invalid API key"),
    403: OpenApiResponse(s.ErrorSerializer, description="the key lacks the required scope"),
    413: OpenApiResponse(s.ErrorSerializer, description="body over the size limit"),
    415: OpenApiResponse(s.ErrorSerializer, description="body is not application/json"),
    429: OpenApiResponse(s.ErrorSerializer, description="rate limit exceeded; see Retry-After"),
}
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", {"type": "string", "pattern": s.IDEMPOTENCY_KEY_PATTERN, "maxLength": s.MAX_IDEMPOTENCY_KEY},
    OpenApiParameter.HEADER, required=False,
    description="≤ 255 printable ASCII characters, unique per source. The same key with the same body returns "
                "the original response and stores nothing; with a different body it is a 409.",
)


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    return JsonResponse(error_body("no such API endpoint; see /api/schema/", "not_found"), status=404)


class ApiView(APIView):
    throttle_classes = [ApiClientRateThrottle]


def actor(client) -> Actor:
    return Actor.api_client(client.pk, client.name)


def body_object(request) -> dict:
    """The parsed JSON body, which must be an object."""
    raw = request.data
    if not isinstance(raw, dict):
        raise serializers.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
    return raw


def parse_uuid(value) -> uuid.UUID:
    """A path id; anything that is not a UUID is a 404, like an unknown one."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise exceptions.NotFound() from None


def query_param(params, name: str) -> str | None:
    """A query parameter, or None; PostgreSQL text cannot hold NUL, so a
    value with one is refused here rather than failing in the database."""
    value = params.get(name)
    if value is not None and "\x00" in value:
        raise serializers.ValidationError({name: ["must not contain NUL characters"]})
    return value
