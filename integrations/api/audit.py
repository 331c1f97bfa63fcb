"""GET /api/v1/audit/head: the latest audit checkpoint, for platforms that
keep copies as independent witnesses (docs/security.md)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from audit.selectors import audit_head

from .base import ERRORS, ApiView


class CheckpointSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="1, 2, 3, … without gaps")
    created_at = serializers.DateTimeField()
    prev_hash = serializers.CharField(help_text="hash of the previous checkpoint (64 zeros for the first)")
    hash = serializers.CharField(help_text="HMAC-SHA256 (hex) of this checkpoint under the audit key `key_id`")
    key_id = serializers.CharField(help_text="id of the audit key; empty for the legacy unkeyed scheme")
    streams = serializers.IntegerField(help_text="how many stream heads the checkpoint records")


class AuditHeadSerializer(serializers.Serializer):
    checkpoint = CheckpointSerializer(allow_null=True, help_text="null until the first checkpoint is taken")


class AuditHeadView(ApiView):
    required_scope = "audit:read"

    @extend_schema(
        operation_id="audit_head", summary="The latest audit checkpoint",
        description="The number and hash of the newest checkpoint of Quorum's audit trail. Store each answer (with "
                    "the time you fetched it): an auditor compares the trail against such copies, and a checkpoint "
                    "you hold cannot be rewritten without the change being detected. Reveals no case data. "
                    "Requires the `audit:read` scope.",
        responses={200: AuditHeadSerializer, **{k: v for k, v in ERRORS.items() if k in (401, 403, 429)}},
    )
    def get(self, request):
        checkpoint = audit_head()
        return Response({"checkpoint": checkpoint.anchor_record() if checkpoint else None})
