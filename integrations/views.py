"""REST API v1. Each view parses input, checks the scope, calls one service
(or selector) and renders; no domain logic here."""

import base64
import binascii
import json
import uuid

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.context import Actor
from cases.errors import IdempotencyConflict
from cases.models import CaseState, Report
from cases.selectors import case_for_source, cases_for_source
from trust import intake as trust_intake

from . import serializers as s
from .auth import ApiClientRateThrottle
from .errors import error_body, flatten
from .representation import case_out as _case_out
from .representation import case_url as _case_url
from .representation import decision_event, decision_out  # noqa: F401  (views_decisions imports them from here)
from .selectors import current_decisions_by_case

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


def _actor(client):
    return Actor.api_client(client.pk, client.name)


def _with_url(request, body):
    body = json.loads(json.dumps(body))
    if body.get("case") is not None:  # a held notice (trust) has no case
        body["case"]["url"] = _case_url(request, body["case"]["id"])
    return body


class ApiView(APIView):
    throttle_classes = [ApiClientRateThrottle]


class ReportCreateView(ApiView):
    required_scope = "reports:write"

    @property
    def max_body_bytes(self):
        return settings.INTAKE_MAX_BODY_BYTES

    @extend_schema(
        operation_id="reports_create", request=s.ReportInSerializer, parameters=[IDEMPOTENCY_HEADER],
        responses={201: OpenApiResponse(s.ReportOutSerializer, description="the report opened a new case"),
                   200: OpenApiResponse(s.ReportOutSerializer, description="the report joined an open case"),
                   202: OpenApiResponse(s.HeldNoticeOutSerializer,
                                        description="stored but not processed: the reporter's notices are suspended "
                                                    "(DSA Art. 23(2)); no case was opened or changed"),
                   409: OpenApiResponse(s.ErrorSerializer, description="Idempotency-Key reused with another body"),
                   **ERRORS},
        summary="File a report",
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            try:
                key = s.validate_idempotency_key(key)
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"Idempotency-Key": exc.detail}) from None
        raw = request.data
        if not isinstance(raw, dict):
            raise serializers.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
        serializer = s.ReportInSerializer(data=raw)
        serializer.is_valid(raise_exception=True)
        item = s.to_report_input(serializer.validated_data, raw=raw, idempotency_key=key)
        client = request.user
        # trust (DSA Art. 22/23): registry recognition and suspended reporters, then reviews.intake.
        result = trust_intake.report_intake(source=client.source, api_client_id=client.pk, actor=_actor(client),
                                            item=item)
        response = Response(_with_url(request, result.body), status=result.status)
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class ReportBatchView(ApiView):
    required_scope = "reports:write"

    @property
    def max_body_bytes(self):
        return settings.INTAKE_BATCH_MAX_BODY_BYTES

    @extend_schema(
        operation_id="reports_batch", request=s.BatchInSerializer,
        responses={200: s.BatchOutSerializer, **ERRORS},
        summary="File up to 500 reports",
        description="Every valid item is filed; invalid items are reported with their errors and do not stop the "
                    "others. Results are in request order; `status` per item is 201, 200, 202 (held: the reporter's notices are "
                    "suspended under DSA Art. 23(2)), 400 or 409.",
    )
    def post(self, request):
        raw = request.data
        if not isinstance(raw, dict):
            raise serializers.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
        unknown = sorted(set(raw) - {"reports"})
        if unknown:
            raise serializers.ValidationError({name: ["unknown field; expected: reports"] for name in unknown})
        reports = raw.get("reports")
        if not isinstance(reports, list):
            raise serializers.ValidationError({"reports": ["required: a list of reports"]})
        limit = settings.INTAKE_BATCH_MAX_ITEMS
        if len(reports) > limit:
            raise serializers.ValidationError({"reports": [f"at most {limit} reports per batch, got {len(reports)}"]})
        if not reports:
            raise serializers.ValidationError({"reports": ["must hold at least one report"]})

        results = [None] * len(reports)
        items, positions = [], []
        for index, entry in enumerate(reports):
            if not isinstance(entry, dict):
                results[index] = {"index": index, "status": 400, "errors": [
                    {"field": f"reports.{index}", "code": "invalid", "message": "must be a JSON object"}]}
                continue
            serializer = s.BatchItemSerializer(data=entry)
            if not serializer.is_valid():
                errors = flatten(serializer.errors, f"reports.{index}")
                results[index] = {"index": index, "status": 400, "errors": errors}
                continue
            key = serializer.validated_data.get("idempotency_key")
            body = {k: v for k, v in entry.items() if k != "idempotency_key"}
            items.append(s.to_report_input(serializer.validated_data, raw=body, idempotency_key=key))
            positions.append(index)

        client = request.user
        # trust (DSA Art. 22/23): registry recognition and suspended reporters, then reviews.intake.
        filed = trust_intake.report_intake_batch(source=client.source, api_client_id=client.pk, actor=_actor(client),
                                                 items=items)
        for index, outcome in zip(positions, filed):
            if isinstance(outcome, IdempotencyConflict):
                results[index] = {"index": index, "status": 409, "errors": [
                    {"field": f"reports.{index}.idempotency_key", "code": outcome.code, "message": str(outcome)}]}
            else:
                results[index] = {"index": index, "status": outcome.status, **_with_url(request, outcome.body)}
        accepted = sum(1 for r in results if r["status"] < 300)
        return Response({"results": results, "accepted": accepted, "rejected": len(results) - accepted})


def _parse_case_id(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise exceptions.NotFound() from None


MAX_CASE_REPORTS = 200


class CaseDetailView(ApiView):
    required_scope = "cases:read"

    @extend_schema(operation_id="cases_retrieve", responses={200: s.CaseOutSerializer, 404: s.ErrorSerializer,
                                                               **ERRORS}, summary="A case with its reports and current decision")
    def get(self, request, case_id):
        case = case_for_source(source=request.user.source, case_id=_parse_case_id(case_id))
        reports = list(
            Report.objects.filter(case=case).select_related("policy").order_by("-received_at", "-id")[
                : MAX_CASE_REPORTS + 1]
        )
        truncated = len(reports) > MAX_CASE_REPORTS
        reports = list(reversed(reports[:MAX_CASE_REPORTS]))
        decision = current_decisions_by_case(case_ids=[case.pk]).get(case.pk)
        return Response(_case_out(request, case, reports, truncated, decision))


def _encode_cursor(case):
    raw = json.dumps([case.opened_at.isoformat(), str(case.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value):
    from django.utils.dateparse import parse_datetime

    invalid = serializers.ValidationError({"cursor": ["invalid cursor; use the `next` URL of a previous page"]})
    if len(value) > 200:
        raise invalid
    try:
        decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        if not (isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(v, str) for v in decoded)):
            raise ValueError
        opened_at = parse_datetime(decoded[0])
        if opened_at is None or opened_at.tzinfo is None:
            raise ValueError
        return opened_at, uuid.UUID(decoded[1])
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise invalid from None


def _query_param(params, name):
    """A query parameter, or None; PostgreSQL text cannot hold NUL, so a
    value with one is refused here rather than failing in the database."""
    value = params.get(name)
    if value is not None and "\x00" in value:
        raise serializers.ValidationError({name: ["must not contain NUL characters"]})
    return value


MAX_PAGE_SIZE = 200
PAGE_SIZE_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}


def page_size_param(params, default):
    value = params.get("page_size")
    if value is None:
        return default
    try:
        page_size = int(value)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError
    except ValueError:
        raise serializers.ValidationError(
            {"page_size": [f"must be an integer from 1 to {MAX_PAGE_SIZE}"]}) from None
    return page_size


class CaseListView(ApiView):
    required_scope = "cases:read"
    page_size = 50

    @extend_schema(
        operation_id="cases_list", summary="The client's cases, newest first",
        parameters=[
            OpenApiParameter("subject_external_id", OpenApiTypes.STR, description="cases about this subject"),
            OpenApiParameter("state", OpenApiTypes.STR, enum=list(CaseState.values)),
            OpenApiParameter("policy", OpenApiTypes.STR, description="cases with at least one report citing it"),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="from the `next` URL of the previous page"),
            OpenApiParameter("page_size", PAGE_SIZE_SCHEMA, description="1–200, default 50"),
        ],
        responses={200: s.CaseListSerializer, **ERRORS},
    )
    def get(self, request):
        params = request.query_params
        cases = cases_for_source(source=request.user.source).select_related("subject__author")
        subject_external_id = _query_param(params, "subject_external_id")
        if subject_external_id is not None:
            cases = cases.filter(subject__external_id=subject_external_id)
        state = _query_param(params, "state")
        if state is not None:
            if state not in CaseState.values:
                raise serializers.ValidationError(
                    {"state": [f"unknown state; valid: {', '.join(CaseState.values)}"]})
            cases = cases.filter(state=state)
        policy = _query_param(params, "policy")
        if policy is not None:
            cases = cases.filter(Exists(Report.objects.filter(case=OuterRef("pk"), policy__code=policy)))
        page_size = page_size_param(params, self.page_size)
        cursor = _query_param(params, "cursor")
        if cursor:
            opened_at, case_id = _decode_cursor(cursor)
            from django.db.models import Q

            cases = cases.filter(Q(opened_at__lt=opened_at) | Q(opened_at=opened_at, id__lt=case_id))
        page = list(cases.order_by("-opened_at", "-id")[: page_size + 1])
        next_url = None
        if len(page) > page_size:
            page = page[:page_size]
            query = params.copy()
            query["cursor"] = _encode_cursor(page[-1])
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        decisions = current_decisions_by_case(case_ids=[c.pk for c in page])
        return Response({"results": [_case_out(request, c, decision=decisions.get(c.pk)) for c in page],
                         "next": next_url})


