"""Shapes of /api/v1/webhooks. Input serializers check shape; the services
check meaning (a URL that may not receive webhooks is refused there)."""

from rest_framework import serializers

from ..api.serializers import StrictSerializer, text_field
from ..models import WEBHOOK_EVENT_TYPES

_EVENT_TYPES_HELP = "event types to receive: " + ", ".join(WEBHOOK_EVENT_TYPES) + " (default: all)"


def _event_types(required):
    return serializers.ListField(child=serializers.ChoiceField(choices=list(WEBHOOK_EVENT_TYPES)), required=required,
                                 allow_empty=False, max_length=len(WEBHOOK_EVENT_TYPES), help_text=_EVENT_TYPES_HELP)


def _url(required):
    return serializers.CharField(
        max_length=2048, trim_whitespace=False, required=required,
        help_text="https:// URL that receives the events (plain http:// only for hosts an admin allow-listed); "
                  "must resolve to public addresses only")


class EndpointInSerializer(StrictSerializer):
    url = _url(True)
    event_types = _event_types(False)
    description = text_field(200, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False, default=True,
                                      help_text="an inactive endpoint receives nothing (not even later)")


class EndpointPatchSerializer(StrictSerializer):
    url = _url(False)
    event_types = _event_types(False)
    description = text_field(200, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)
    paused = serializers.BooleanField(
        required=False, help_text="false resumes an endpoint that was paused after continuous failures; the events "
                                  "it missed are then delivered in order (endpoints are only paused automatically)")

    def validate_paused(self, value):
        if value:
            raise serializers.ValidationError("endpoints are paused automatically; set active=false to stop one")
        return value


class DeliveryCountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    dead = serializers.IntegerField(help_text="dead-lettered: retries ran out; redeliver with /redeliver-dead")


class EndpointOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    active = serializers.BooleanField()
    paused = serializers.BooleanField()
    paused_at = serializers.DateTimeField(allow_null=True)
    pause_reason = serializers.CharField(help_text="why it was paused; empty when it is not")
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="during a secret rotation: until when the previous secret signs too")
    consecutive_failures = serializers.IntegerField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_failure_at = serializers.DateTimeField(allow_null=True)
    deliveries = DeliveryCountsSerializer()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class EndpointCreatedSerializer(EndpointOutSerializer):
    secret = serializers.CharField(help_text="the signing secret; shown only in this response")


class EndpointListSerializer(serializers.Serializer):
    results = EndpointOutSerializer(many=True)


class RotateInSerializer(StrictSerializer):
    overlap_seconds = serializers.IntegerField(
        required=False, min_value=0, max_value=30 * 86400,
        help_text="how long the previous secret keeps signing too (two v1 values); default 86400, 0 ends it now")


class RotateOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    secret = serializers.CharField(help_text="the new signing secret; shown only in this response")
    previous_secret_expires_at = serializers.DateTimeField(allow_null=True)


class AttemptOutSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    at = serializers.DateTimeField(help_text="when the attempt started")
    status_code = serializers.IntegerField(allow_null=True, help_text="null when no response came")
    latency_ms = serializers.IntegerField()
    succeeded = serializers.BooleanField()
    error = serializers.CharField(help_text="empty on success")
    response_excerpt = serializers.CharField(help_text="the start of the response body (at most 1024 characters)")


class EventRefSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    created_at = serializers.DateTimeField()


class DeliveryOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event = EventRefSerializer()
    # A plain string in the schema: an enum named "state" would collide with the appeal's and the case's.
    state = serializers.CharField(help_text="pending (waiting for its next attempt), succeeded, or dead "
                                            "(dead-lettered: retries ran out)")
    attempt_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    next_attempt_at = serializers.DateTimeField(allow_null=True, help_text="while pending")
    delivered_at = serializers.DateTimeField(allow_null=True)
    dead_at = serializers.DateTimeField(allow_null=True)
    attempts = AttemptOutSerializer(many=True)


class DeliveryListSerializer(serializers.Serializer):
    results = DeliveryOutSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="URL of the next (older) page, or null")


class RedeliverOutSerializer(serializers.Serializer):
    redelivered = serializers.IntegerField(help_text="how many deliveries were queued again")
