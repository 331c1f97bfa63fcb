"""Reads of webhook endpoints and their delivery log, scoped to a source.
Fixed number of queries whatever the page size."""

from django.db.models import Count, Prefetch, Q

from ..models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint


def endpoints_for_source(*, source):
    return WebhookEndpoint.objects.filter(source=source).annotate(
        pending_count=Count("deliveries", filter=Q(deliveries__state=DeliveryState.PENDING)),
        dead_count=Count("deliveries", filter=Q(deliveries__state=DeliveryState.DEAD)),
    ).order_by("created_at", "id")


def endpoint_for_source(*, source, endpoint_id):
    return endpoints_for_source(source=source).get(pk=endpoint_id)


def deliveries_of_endpoint(*, endpoint, state=None, event_type=None, before_id=None, limit=50):
    """Newest first, each with its attempts (oldest first) as `log`."""
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event").defer("event__body")
    if state:
        deliveries = deliveries.filter(state=state)
    if event_type:
        deliveries = deliveries.filter(event__type=event_type)
    if before_id is not None:
        deliveries = deliveries.filter(pk__lt=before_id)
    attempts = Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number", "id"), to_attr="log")
    return list(deliveries.order_by("-id").prefetch_related(attempts)[:limit])
