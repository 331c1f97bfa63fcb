"""Whether a case's current decision reached the platform (reviews/closing.py
asks before it closes a decided case).

A decision is delivered when every active endpoint of the case's source that
subscribes to a decision event (decision.made or decision.reversed), and
existed when the decision was made, has a succeeded delivery of that
decision's event. A paused endpoint, a pending or a dead-lettered delivery
keeps the case decided (an operator resumes or redelivers; then it closes).
A source without such an endpoint reads the decision feed: nothing waits.
"""

from collections import defaultdict

from cases.models import Case
from reviews.models import Decision

from ..models import DeliveryState, WebhookDelivery, WebhookEndpoint

DECISION_EVENTS = ("decision.made", "decision.reversed")


def cases_with_undelivered_decisions(cases: list[Case]) -> set:
    if not cases:
        return set()
    by_source = defaultdict(list)
    for case in cases:
        by_source[case.source_id].append(case)
    endpoints = defaultdict(list)
    for endpoint in WebhookEndpoint.objects.filter(source_id__in=list(by_source), active=True).only(
            "id", "source_id", "event_types", "created_at"):
        if any(t in DECISION_EVENTS for t in endpoint.event_types or ()):
            endpoints[endpoint.source_id].append(endpoint)
    concerned = [c for c in cases if endpoints.get(c.source_id)]
    if not concerned:
        return set()
    decisions = dict(Decision.objects.filter(case_id__in=[c.pk for c in concerned], is_current=True)
                     .values_list("case_id", "id"))
    acknowledged = set(
        WebhookDelivery.objects.filter(
            state=DeliveryState.SUCCEEDED, event__case_id__in=[c.pk for c in concerned],
            event__type__in=DECISION_EVENTS,
            event__audit_event__target_id__in=[str(d) for d in decisions.values()],
        ).values_list("endpoint_id", "event__case_id")
    )
    waiting = set()
    for case in concerned:
        if case.pk not in decisions:
            continue  # nothing to deliver
        for endpoint in endpoints[case.source_id]:
            if endpoint.created_at <= case.decided_at and (endpoint.pk, case.pk) not in acknowledged:
                waiting.add(case.pk)
                break
    return waiting
