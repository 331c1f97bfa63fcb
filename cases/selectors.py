"""Reads about cases. List querysets run a fixed number of queries whatever
the page size, and API reads are scoped to the caller's source."""

import threading
import time

from .models import Case, Policy, Queue, Report, RereviewRule
from .rereview import DEFAULT_SETTINGS, RereviewSettings

_CACHE_SECONDS = 10.0
_cache_lock = threading.Lock()
_cache = {"at": 0.0, "policies": {}, "queue_by_policy": {}, "default_queue": None, "rereview": {}}


def _refresh():
    policies = {p.code: p for p in Policy.objects.all()}
    queue_by_policy = {}
    for queue in Queue.objects.prefetch_related("policies").order_by("pk"):
        for policy in queue.policies.all():
            queue_by_policy.setdefault(policy.pk, queue)
    default = Queue.objects.filter(is_default=True).first() or Queue.objects.order_by("pk").first()
    rereview = {rule.policy_id: RereviewSettings.of(rule) for rule in RereviewRule.objects.all()}
    _cache.update(at=time.monotonic(), policies=policies, queue_by_policy=queue_by_policy, default_queue=default,
                  rereview=rereview)


def _current():
    # Policy and queue configuration changes rarely and intake is hot: each
    # process keeps it for a few seconds. A change applies within _CACHE_SECONDS.
    if time.monotonic() - _cache["at"] > _CACHE_SECONDS:
        with _cache_lock:
            if time.monotonic() - _cache["at"] > _CACHE_SECONDS:
                _refresh()
    return _cache


def invalidate_configuration_cache():
    with _cache_lock:
        _cache["at"] = 0.0


def active_policies():
    """{code: Policy} of the policies reports may cite."""
    return {code: p for code, p in _current()["policies"].items() if p.active}


def queue_for_policy(policy):
    current = _current()
    queue = current["queue_by_policy"].get(policy.pk) or current["default_queue"]
    if queue is None:
        _refresh()
        queue = _cache["queue_by_policy"].get(policy.pk) or _cache["default_queue"]
    if queue is None:
        raise Queue.DoesNotExist("no queue is configured: create one (the demo data and migrations add 'general')")
    return queue


def rereview_settings_for(policy) -> RereviewSettings:
    """The re-review rule for a new report's policy: its own, else the default row, else the built-in defaults."""
    rules = _current()["rereview"]
    return rules.get(policy.pk) or rules.get(None) or DEFAULT_SETTINGS


def cases_for_source(*, source):
    return Case.objects.filter(source=source).select_related("subject", "queue")


def case_for_source(*, source, case_id):
    return (
        cases_for_source(source=source)
        .select_related("subject__author")
        .get(pk=case_id)
    )


def reports_of_case(*, case):
    return Report.objects.filter(case=case).select_related("policy").order_by("received_at", "id")
