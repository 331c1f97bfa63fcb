"""One view for every platform adapter: find the client's configuration,
verify the signature, let the adapter parse, then validate and file the
reports exactly as the REST API does (same serializer, same intake call)."""

import io
import secrets
from dataclasses import replace

from django.urls import reverse
from django.utils.http import parse_header_parameters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.context import Actor
from cases.errors import IdempotencyConflict
from integrations import ratelimit
from integrations.api import serializers as s
from integrations.errors import flatten
from integrations.parsers import PayloadTooLarge, StrictJSONParser
from trust import intake as trust_intake

from .selectors import adapter_config_for, policy_map

MAX_BODY_BYTES = 4 * 1_048_576
# Verified against when the client is unknown, so that both paths do the same work.
_UNUSABLE_SECRET = secrets.token_hex(32)
REQUIRED_SCOPE = "reports:write"


class SignatureInvalid(exceptions.APIException):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "signature_invalid"
    default_detail = "missing or invalid signature"


def _translate(field, paths):
    """A body field path (subject.text) as the payload path it came from."""
    best = max((k for k in paths if field == k or field.startswith(k + ".")), key=len, default=None)
    if best is None:
        return field
    return paths[best] + field[len(best):]


class SubjectKeySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["account", "content"])
    external_id = serializers.CharField()


class AdapterFilingSerializer(serializers.Serializer):
    status = serializers.IntegerField(help_text="201 opened a case, 200 joined an open case (or was filed by an "
                                                "earlier delivery: see replayed), 202 held (the reporter's notices "
                                                "are suspended under DSA Art. 23(2)), 409 idempotency key conflict")
    idempotency_key = serializers.CharField(help_text="derived from the platform's ids")
    subject = SubjectKeySerializer()
    replayed = serializers.BooleanField(help_text="an earlier delivery filed this already; nothing new was stored")
    report_id = serializers.UUIDField(required=False)
    case = s.CaseSummarySerializer(required=False)
    deduplicated = serializers.BooleanField(required=False)
    held_notice_id = serializers.UUIDField(required=False)
    processing = s.HeldProcessingSerializer(required=False)
    errors = s.ErrorItemSerializer(many=True, required=False)


class AdapterResultSerializer(serializers.Serializer):
    event = serializers.CharField()
    ignored = serializers.BooleanField(help_text="true for events that file nothing")
    reference = serializers.CharField(help_text="the platform's id of the report, empty when ignored")
    results = AdapterFilingSerializer(many=True, help_text="one per report filed, in payload order")
    filed = serializers.IntegerField(help_text="reports this delivery stored (0 for a redelivery)")


class AdapterWebhookView(APIView):
    """Base class; `view_for` makes one subclass per registered adapter."""

    adapter = None
    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    max_body_bytes = MAX_BODY_BYTES

    def receive(self, request, client):
        adapter = self.adapter
        config = adapter_config_for(platform=adapter.platform, client_name=client)
        usable = config is not None and config.api_client.active
        # The signature is checked first and the same way for every name: an
        # unknown, unconfigured or revoked client gets the answer an unsigned
        # request for a real client gets (no enumeration of client names), and
        # nobody without the secret spends the client's rate tokens.
        body = self._read_body(request)
        secret = config.webhook_secret if usable else _UNUSABLE_SECRET
        if not adapter.verify(secret=secret, headers=request.headers, body=body) or not usable:
            raise SignatureInvalid(f"missing or invalid {adapter.signature_header} signature")
        api_client = config.api_client
        if REQUIRED_SCOPE not in api_client.scopes:
            raise exceptions.PermissionDenied(f"the API client lacks the scope {REQUIRED_SCOPE!r}")
        allowed, wait = ratelimit.hit(api_client)
        if not allowed:
            raise exceptions.Throttled(wait=wait)
        payload = self._parse_json(request, body)
        parsed = adapter.parse(payload=payload, policies=policy_map(config))
        if parsed.ignored:
            return Response({"event": parsed.event, "ignored": True, "reference": parsed.reference, "results": [],
                             "filed": 0}, status=status.HTTP_202_ACCEPTED)

        items = self._validate(parsed.filings)
        # trust (DSA Art. 22/23): registry recognition and suspended reporters, then reviews.intake.
        results = trust_intake.report_intake_batch(source=api_client.source, api_client_id=api_client.pk,
                                      actor=Actor.api_client(api_client.pk, api_client.name), items=items)
        out = [self._result_out(request, filing, outcome) for filing, outcome in zip(parsed.filings, results)]
        filed = sum(1 for r in out if r["status"] < 300 and not r["replayed"])
        return Response({"event": parsed.event, "ignored": False, "reference": parsed.reference, "results": out,
                         "filed": filed})

    def _read_body(self, request):
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            try:
                too_large = int(declared) > self.max_body_bytes
            except ValueError:
                raise exceptions.ParseError("invalid Content-Length") from None
            if too_large:
                raise PayloadTooLarge(f"request body is over the limit of {self.max_body_bytes} bytes")
        # Read from the raw request: the signature covers the bytes as sent.
        body = request._request.read(self.max_body_bytes + 1)
        if len(body) > self.max_body_bytes:
            raise PayloadTooLarge(f"request body is over the limit of {self.max_body_bytes} bytes")
        return body

    def _parse_json(self, request, body):
        content_type = request.META.get("CONTENT_TYPE", "")
        media_type, params = parse_header_parameters(content_type)
        if media_type.lower() != "application/json":
            raise exceptions.UnsupportedMediaType(content_type or "(none)", detail="the body must be application/json")
        encoding = params.get("charset", "utf-8")
        return StrictJSONParser().parse(io.BytesIO(body), "application/json",
                                        {"view": self, "request": request, "encoding": encoding})

    def _validate(self, filings):
        """ReportInput for each filing, validated by the REST API's serializer;
        a 400 naming the payload's fields when any is invalid."""
        items, errors = [], {}
        for filing in filings:
            serializer = s.ReportInSerializer(data=filing.body)
            if not serializer.is_valid():
                for entry in flatten(serializer.errors):
                    path = _translate(entry["field"], filing.paths)
                    errors.setdefault(path, []).append(ErrorDetail(entry["message"], code=entry["code"]))
                continue
            item = s.to_report_input(serializer.validated_data, raw=filing.body, idempotency_key=filing.idempotency_key)
            # Redeliveries and updates of the same report must replay, not
            # conflict, whatever else changed in the payload.
            items.append(replace(item, fingerprint=s.fingerprint({"idempotency_key": filing.idempotency_key})))
        if errors:
            raise serializers.ValidationError(errors)
        return items

    def _result_out(self, request, filing, outcome):
        subject = {"kind": filing.body["subject"]["kind"], "external_id": filing.body["subject"]["external_id"]}
        base = {"idempotency_key": filing.idempotency_key, "subject": subject}
        if isinstance(outcome, IdempotencyConflict):
            return {**base, "status": 409, "replayed": False, "errors": [
                {"field": "idempotency_key", "code": outcome.code, "message": str(outcome)}]}
        body = outcome.body
        if body.get("case") is None:  # held by trust: the reporter's notices are suspended
            return {**base, "status": outcome.status, "replayed": False, "held_notice_id": body["held_notice_id"],
                    "processing": body["processing"]}
        case = dict(body["case"])
        case["url"] = request.build_absolute_uri(reverse("api-case-detail", args=[case["id"]]))
        return {**base, "status": outcome.status, "replayed": outcome.replayed, "report_id": body["report_id"],
                "case": case, "deduplicated": body["deduplicated"]}


def _error(description):
    return OpenApiResponse(s.ErrorSerializer, description=description)


def view_for(adapter):
    """The view class serving POST /api/v1/adapters/<platform>/<client> for `adapter`."""

    @extend_schema(
        operation_id=f"adapters_{adapter.platform}_receive",
        summary=f"Receive a {adapter.title} webhook",
        description=adapter.description,
        request={"application/json": adapter.payload_serializer},
        auth=[],
        parameters=[
            OpenApiParameter("client", OpenApiTypes.STR, OpenApiParameter.PATH,
                             description="name of the Quorum API client the reports are filed for"),
            OpenApiParameter(adapter.signature_header, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
                             description=adapter.signature_description),
        ],
        responses={
            200: OpenApiResponse(AdapterResultSerializer, description="the event was filed (see results)"),
            202: OpenApiResponse(AdapterResultSerializer, description="an event this adapter ignores"),
            400: _error("malformed payload; `errors` names the payload's fields"),
            401: _error("missing or invalid signature, or no active configuration of this adapter for a client of "
                        "that name (the two are not told apart)"),
            403: _error("the API client lacks the scope reports:write"),
            409: _error("no active policy for the report (policy_unmapped)"),
            413: _error(f"body over {MAX_BODY_BYTES} bytes"),
            415: _error("body is not application/json"),
            429: _error("the client's rate limit is exceeded; see Retry-After"),
        },
    )
    def post(self, request, client):
        return self.receive(request, client)

    name = "".join(part.capitalize() for part in adapter.platform.split("_")) + "WebhookView"
    return type(name, (AdapterWebhookView,), {"adapter": adapter, "post": post, "__module__": __name__})
