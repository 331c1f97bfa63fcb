"""POST /api/v1/reports and /api/v1/reports/batch: report intake."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from cases.errors import IdempotencyConflict
from trust import intake as trust_intake

from ..errors import flatten
from . import fast_intake
from . import serializers as s
from .base import ERRORS, IDEMPOTENCY_HEADER, ApiView, actor, body_object
from .representation import with_case_url


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
        raw = body_object(request)
        validated = fast_intake.report_in(raw)  # msgspec; None: the serializer decides (and names the errors)
        if validated is None:
            serializer = s.ReportInSerializer(data=raw)
            serializer.is_valid(raise_exception=True)
            validated = serializer.validated_data
        item = s.to_report_input(validated, raw=raw, idempotency_key=key)
        client = request.user
        # trust (DSA Art. 22/23): registry recognition and suspended reporters, then reviews.intake.
        result = trust_intake.report_intake(source=client.source, api_client_id=client.pk, actor=actor(client),
                                            item=item)
        response = Response(with_case_url(request, result.body), status=result.status)
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
        raw = body_object(request)
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
            validated = fast_intake.batch_item_in(entry)  # msgspec; None: the serializer decides
            if validated is None:
                serializer = s.BatchItemSerializer(data=entry)
                if not serializer.is_valid():
                    errors = flatten(serializer.errors, f"reports.{index}")
                    results[index] = {"index": index, "status": 400, "errors": errors}
                    continue
                validated = serializer.validated_data
            key = validated.get("idempotency_key")
            body = {k: v for k, v in entry.items() if k != "idempotency_key"}
            items.append(s.to_report_input(validated, raw=body, idempotency_key=key))
            positions.append(index)

        client = request.user
        # trust (DSA Art. 22/23): registry recognition and suspended reporters, then reviews.intake.
        filed = trust_intake.report_intake_batch(source=client.source, api_client_id=client.pk, actor=actor(client),
                                                 items=items)
        for index, outcome in zip(positions, filed):
            if isinstance(outcome, IdempotencyConflict):
                results[index] = {"index": index, "status": 409, "errors": [
                    {"field": f"reports.{index}.idempotency_key", "code": outcome.code, "message": str(outcome)}]}
            else:
                results[index] = {"index": index, "status": outcome.status, **with_case_url(request, outcome.body)}
        accepted = sum(1 for r in results if r["status"] < 300)
        return Response({"results": results, "accepted": accepted, "rejected": len(results) - accepted})
