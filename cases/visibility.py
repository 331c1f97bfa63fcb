"""Per-team visibility: which queues, and so which cases, a console user may
see.

A queue may be restricted to named groups (Queue.restricted_to, set by an
admin through `queue_save`, audited as `queue.changed`). A restricted
queue's cases are seen only by members of one of those groups, by admins
and superusers, and by auditors unless VISIBILITY_AUDITORS_SEE_ALL is off.
An unrestricted queue is seen by every console user, as before.

The unit is the queue, not the policy: a case is in exactly one queue, the
queue is what a team works from, claim-next hands out cases per queue, and
every list is already keyed (and indexed) on it. A policy-level rule would
be ambiguous for a case reported under several policies.

Every function here adds conditions as SQL subqueries (no query of its
own), so a list page scoped to the user runs the same number of queries as
before. The REST API does not use this module: API clients see their own
source's cases (cases.selectors.cases_for_source)."""

from typing import Literal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import BooleanField, CharField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat

from .models import Case, Queue

# The console's role groups (console.roles; this layer sits below the console).
ADMIN_GROUP = "admin"
AUDITOR_GROUP = "auditor"


def _all_seeing_groups() -> list[str]:
    groups = [ADMIN_GROUP]
    if settings.VISIBILITY_AUDITORS_SEE_ALL:
        groups.append(AUDITOR_GROUP)
    return groups


def _anonymous(user) -> bool:
    return user is None or not getattr(user, "is_authenticated", False)


def sees_all_queues(user) -> bool:
    """Whether no queue can be hidden from `user` (a superuser, an admin, an
    auditor while VISIBILITY_AUDITORS_SEE_ALL). One query unless a superuser."""
    if _anonymous(user):
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=_all_seeing_groups()).exists()


def hidden_queues(user) -> QuerySet | None:
    """A subquery of the ids of the queues `user` may not see, or None when
    they see everything (a superuser). Restricted queues are hidden from
    anonymous users."""
    if not _anonymous(user) and user.is_superuser:
        return None
    restriction = Queue.restricted_to.through.objects.filter(queue_id=OuterRef("pk"))
    hidden = Queue.objects.filter(Exists(restriction))
    if not _anonymous(user):
        memberships = get_user_model().groups.through.objects.filter(user_id=user.pk)
        hidden = hidden.exclude(Exists(restriction.filter(group_id__in=memberships.values("group_id")))).exclude(
            # Uncorrelated: true for an admin (or auditor) whatever the queue.
            Exists(memberships.filter(group__name__in=_all_seeing_groups())))
    return hidden.values("pk")


def visible_queues(user, queues: QuerySet | None = None) -> QuerySet:
    """`queues` (default: every queue) without those hidden from `user`."""
    queues = Queue.objects.all() if queues is None else queues
    hidden = hidden_queues(user)
    return queues if hidden is None else queues.exclude(pk__in=hidden)


def scope_to_user(queryset: QuerySet, user, *, queue_field: str = "queue_id") -> QuerySet:
    """`queryset` without the rows whose queue (`queue_field`, a path to a
    queue id such as "case__queue_id") `user` may not see."""
    hidden = hidden_queues(user)
    return queryset if hidden is None else queryset.exclude(**{f"{queue_field}__in": hidden})


def visible_cases(user) -> QuerySet:
    """The cases `user` may see."""
    return scope_to_user(Case.objects.all(), user)


def hidden_case_streams(user) -> QuerySet | None:
    """A subquery of the audit stream names ("case:<id>", audit.services.case_stream)
    of the cases hidden from `user`, or None when they see everything."""
    hidden = hidden_queues(user)
    if hidden is None:
        return None
    return (Case.objects.filter(queue_id__in=hidden)
            .annotate(stream=Concat(Value("case:"), Cast("id", CharField()), output_field=CharField()))
            .values("stream"))


def users_who_see_queue(users: QuerySet, *, queue_id) -> QuerySet:
    """`users` (a user queryset) without those who may not see the queue
    `queue_id` (no query of its own): whom a lead may give a seat."""
    restriction = Queue.restricted_to.through.objects.filter(queue_id=queue_id)
    memberships = get_user_model().groups.through.objects.filter(user_id=OuterRef("pk"))
    return users.filter(
        ~Exists(restriction)
        | Q(is_superuser=True)
        | Exists(memberships.filter(group_id__in=restriction.values("group_id")))
        | Exists(memberships.filter(group__name__in=_all_seeing_groups()))
    )


def case_access(*, case_id, user) -> Literal["visible", "hidden", "missing"]:
    """Whether `user` may see the case (one query). "hidden" means it exists
    in a queue restricted away from them: the console answers 404 as for a
    "missing" one, and records the attempt."""
    hidden = hidden_queues(user)
    qs = Case.objects.filter(pk=case_id)
    if hidden is None:
        return "visible" if qs.exists() else "missing"
    is_hidden = ExpressionWrapper(Q(queue_id__in=hidden), output_field=BooleanField())
    row = qs.annotate(is_hidden=is_hidden).values_list("is_hidden", flat=True).first()
    if row is None:
        return "missing"
    return "hidden" if row else "visible"
