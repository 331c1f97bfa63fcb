"""REST API v1 for a platform's webhook endpoints (scope webhooks:manage):
its own endpoints only (those of its source). One view per operation; the
services check meaning."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from ..models import WEBHOOK_EVENT_TYPES, DeliveryState, WebhookDelivery
from ..webhooks import selectors, services
from ..webhooks import serializers as s
from .base import ERRORS, ApiView, actor, body_object, parse_uuid, query_param
from .pagination import decode_number_cursor, encode_number_cursor, next_page_url, page_size_param
from .serializers import ErrorSerializer

NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="no such endpoint (or delivery) of this client's source")}
ENDPOINT_ID = OpenApiParameter("endpoint_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
DELIVERY_ID = OpenApiParameter("delivery_id", OpenApiTypes.INT, OpenApiParameter.PATH)
TAGS = ["webhooks"]


def _invalid(exc):
    """A service's WebhookInvalid as a 400 naming the field."""
    return serializers.ValidationError({exc.field or "non_field_errors": [serializers.ErrorDetail(str(exc), code=exc.code)]})


def endpoint_out(endpoint):
    return {
        "id": str(endpoint.id), "url": endpoint.url, "description": endpoint.description,
        "event_types": endpoint.event_types, "active": endpoint.active, "paused": endpoint.paused_at is not None,
        "paused_at": endpoint.paused_at, "pause_reason": endpoint.pause_reason,
        "previous_secret_expires_at": endpoint.previous_secret_expires_at if endpoint.previous_secret else None,
        "consecutive_failures": endpoint.consecutive_failures, "last_success_at": endpoint.last_success_at,
        "last_failure_at": endpoint.last_failure_at,
        "deliveries": {"pending": getattr(endpoint, "pending_count", 0), "dead": getattr(endpoint, "dead_count", 0)},
        "created_at": endpoint.created_at, "updated_at": endpoint.updated_at,
    }


MAX_ATTEMPTS_SHOWN = 50


def delivery_out(delivery):
    return {
        "id": delivery.id,
        "event": {"id": delivery.event.public_id, "type": delivery.event.type, "created_at": delivery.event.created_at},
        "state": delivery.state, "attempt_count": delivery.attempts, "created_at": delivery.created_at,
        "next_attempt_at": delivery.next_attempt_at if delivery.state == DeliveryState.PENDING else None,
        "delivered_at": delivery.delivered_at, "dead_at": delivery.dead_at,
        "attempts": [
            {"number": a.number, "at": a.started_at, "status_code": a.status_code, "latency_ms": a.duration_ms,
             "succeeded": a.succeeded, "error": a.error, "response_excerpt": a.response_excerpt}
            for a in delivery.log[-MAX_ATTEMPTS_SHOWN:]
        ],
    }


class WebhookView(ApiView):
    required_scope = "webhooks:manage"

    def endpoint(self, request, endpoint_id):
        return selectors.endpoint_for_source(source=request.user.source, endpoint_id=parse_uuid(endpoint_id))


class WebhookListView(WebhookView):
    @extend_schema(operation_id="webhooks_list", tags=TAGS, summary="The client's webhook endpoints",
                   responses={200: s.EndpointListSerializer, **ERRORS})
    def get(self, request):
        endpoints = selectors.endpoints_for_source(source=request.user.source)
        return Response({"results": [endpoint_out(e) for e in endpoints]})

    @extend_schema(
        operation_id="webhooks_create", tags=TAGS, summary="Create a webhook endpoint", request=s.EndpointInSerializer,
        description="Events about the client's cases are POSTed to `url`, signed with the secret returned here "
                    "(shown once): see docs/webhooks.md for the payloads and how to verify `Quorum-Signature`. "
                    "The URL must be https and resolve to public addresses only (400 `unsafe_url` otherwise). "
                    "An endpoint receives the events that happen after it was created.",
        responses={201: OpenApiResponse(s.EndpointCreatedSerializer, description="created; `secret` is shown once"),
                   409: OpenApiResponse(ErrorSerializer, description="`webhook_limit_reached`"), **ERRORS})
    def post(self, request):
        serializer = s.EndpointInSerializer(data=body_object(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        client = request.user
        try:
            endpoint, secret = services.webhook_endpoint_create(
                source=client.source, url=data["url"], event_types=data.get("event_types"),
                description=data.get("description", ""), active=data["active"], created_by_client=client,
                actor=actor(client))
        except services.WebhookInvalid as exc:
            raise _invalid(exc) from None
        endpoint = selectors.endpoint_for_source(source=client.source, endpoint_id=endpoint.pk)
        return Response({**endpoint_out(endpoint), "secret": secret}, status=201)


class WebhookDetailView(WebhookView):
    @extend_schema(operation_id="webhooks_retrieve", tags=TAGS, summary="A webhook endpoint", parameters=[ENDPOINT_ID],
                   responses={200: s.EndpointOutSerializer, **NOT_FOUND, **ERRORS})
    def get(self, request, endpoint_id):
        return Response(endpoint_out(self.endpoint(request, endpoint_id)))

    @extend_schema(
        operation_id="webhooks_partial_update", tags=TAGS, summary="Change, deactivate or resume an endpoint",
        parameters=[ENDPOINT_ID], request=s.EndpointPatchSerializer,
        description="Only the fields sent change. `active=false` stops deliveries (events meanwhile are never sent); "
                    "`active=true` starts again from the present. `paused=false` resumes an endpoint that Quorum "
                    "paused after continuous failures: the events it missed are delivered, in order per case.",
        responses={200: s.EndpointOutSerializer, **NOT_FOUND, **ERRORS})
    def patch(self, request, endpoint_id):
        endpoint = self.endpoint(request, endpoint_id)
        serializer = s.EndpointPatchSerializer(data=body_object(request))
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        resume = changes.pop("paused", None) is False
        try:
            services.webhook_endpoint_update(endpoint_id=endpoint.pk, actor=actor(request.user), resume=resume,
                                             **changes)
        except services.WebhookInvalid as exc:
            raise _invalid(exc) from None
        return Response(endpoint_out(self.endpoint(request, endpoint.pk)))

    @extend_schema(operation_id="webhooks_destroy", tags=TAGS, summary="Delete an endpoint and its delivery log",
                   parameters=[ENDPOINT_ID], responses={204: None, **NOT_FOUND, **ERRORS})
    def delete(self, request, endpoint_id):
        endpoint = self.endpoint(request, endpoint_id)
        services.webhook_endpoint_delete(endpoint_id=endpoint.pk, actor=actor(request.user))
        return Response(status=204)


class WebhookRotateSecretView(WebhookView):
    @extend_schema(
        operation_id="webhooks_rotate_secret", tags=TAGS, summary="Issue a new signing secret",
        parameters=[ENDPOINT_ID], request=s.RotateInSerializer,
        description="Returns the new secret (shown once). Until `previous_secret_expires_at` both secrets sign each "
                    "request, so `Quorum-Signature` carries two `v1` values; switch the receiver to the new secret "
                    "within that time.",
        responses={200: s.RotateOutSerializer, **NOT_FOUND, **ERRORS})
    def post(self, request, endpoint_id):
        endpoint = self.endpoint(request, endpoint_id)
        serializer = s.RotateInSerializer(data=body_object(request))
        serializer.is_valid(raise_exception=True)
        endpoint, secret = services.webhook_secret_rotate(
            endpoint_id=endpoint.pk, actor=actor(request.user),
            overlap_seconds=serializer.validated_data.get("overlap_seconds"))
        return Response({"id": str(endpoint.pk), "secret": secret,
                         "previous_secret_expires_at": endpoint.previous_secret_expires_at})


_CURSOR_PREFIX = "w1:"


class WebhookDeliveryListView(WebhookView):
    page_size = 50

    @extend_schema(
        operation_id="webhooks_deliveries_list", tags=TAGS, summary="The endpoint's delivery log, newest first",
        description="Each delivery is one event for this endpoint, with every attempt: when, status code, latency, "
                    "error and the start of the response body.",
        parameters=[
            ENDPOINT_ID,
            OpenApiParameter("state", OpenApiTypes.STR, enum=list(DeliveryState.values)),
            OpenApiParameter("event_type", OpenApiTypes.STR, enum=list(WEBHOOK_EVENT_TYPES)),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="from the `next` URL of the previous page"),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1–200, default 50"),
        ],
        responses={200: s.DeliveryListSerializer, **NOT_FOUND, **ERRORS})
    def get(self, request, endpoint_id):
        endpoint = self.endpoint(request, endpoint_id)
        params = request.query_params
        state = query_param(params, "state")
        if state is not None and state not in DeliveryState.values:
            raise serializers.ValidationError({"state": [f"unknown state; valid: {', '.join(DeliveryState.values)}"]})
        event_type = query_param(params, "event_type")
        if event_type is not None and event_type not in WEBHOOK_EVENT_TYPES:
            raise serializers.ValidationError({"event_type": [f"unknown event type; valid: {', '.join(WEBHOOK_EVENT_TYPES)}"]})
        cursor = query_param(params, "cursor")
        before = decode_number_cursor(cursor, prefix=_CURSOR_PREFIX, param="cursor") if cursor else None
        page_size = page_size_param(params, self.page_size)
        page = selectors.deliveries_of_endpoint(endpoint=endpoint, state=state, event_type=event_type, before_id=before,
                                                limit=page_size + 1)
        next_url = None
        if len(page) > page_size:
            page = page[:page_size]
            next_url = next_page_url(request, encode_number_cursor(_CURSOR_PREFIX, page[-1].pk))
        return Response({"results": [delivery_out(d) for d in page], "next": next_url})


class WebhookRedeliverView(WebhookView):
    @extend_schema(
        operation_id="webhooks_redeliver", tags=TAGS, summary="Send one event again", request=None,
        parameters=[ENDPOINT_ID, DELIVERY_ID],
        description="Queues the delivery again with a fresh retry window, whatever became of it (succeeded or "
                    "dead-lettered); the event keeps its id. A delivery still pending is left as it is (0).",
        responses={202: s.RedeliverOutSerializer, **NOT_FOUND, **ERRORS})
    def post(self, request, endpoint_id, delivery_id):
        endpoint = self.endpoint(request, endpoint_id)
        if not str(delivery_id).isdigit() or len(str(delivery_id)) > 18:
            raise exceptions.NotFound()
        delivery = WebhookDelivery.objects.filter(endpoint=endpoint, pk=int(delivery_id)).first()
        if delivery is None:
            raise exceptions.NotFound()
        queued = services.webhook_redeliver(delivery_id=delivery.pk, actor=actor(request.user))
        return Response({"redelivered": int(queued)}, status=202)


class WebhookRedeliverDeadView(WebhookView):
    @extend_schema(
        operation_id="webhooks_redeliver_dead", tags=TAGS, summary="Send every dead-lettered event again",
        request=None, parameters=[ENDPOINT_ID],
        description="Queues every dead-lettered delivery of the endpoint again, with a fresh retry window; they "
                    "are sent in order per case.",
        responses={202: s.RedeliverOutSerializer, **NOT_FOUND, **ERRORS})
    def post(self, request, endpoint_id):
        endpoint = self.endpoint(request, endpoint_id)
        count = services.webhook_redeliver_dead(endpoint_id=endpoint.pk, actor=actor(request.user))
        return Response({"redelivered": count}, status=202)
