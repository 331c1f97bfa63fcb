"""The names a case's timeline needs in place of the ids and codes its audit
events carry: queues, users, policies, outcomes, workflows and stages.

The case file has read most of them already (the case's queue, the reviews
with their stages and workflows, seats, votes, decisions, notes): those are
taken from there, and each kind of name still missing costs one query, so
the timeline adds at most five queries whatever the number of events, and
usually one (the users, e.g. who viewed the case). A name that no longer
resolves (a deleted user, an unknown code) is simply absent: the console
then shows the value as recorded."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from cases.models import Case, Policy, Queue

from .models import Outcome, Review, Stage

# Audit data keys by the kind of thing they name.
QUEUE_KEYS = ("queue_id",)
USER_ID_KEYS = ("moderator_id",)
USER_NAME_KEYS = ("moderator", "assigned_by")
USER_LIST_KEYS = ("released",)
POLICY_KEYS = ("policy",)
OUTCOME_KEYS = ("outcome", "proposed", "rejected_outcome", "reproposal")
STAGE_KEYS = ("stage", "from_stage", "to_stage", "deferred_to", "sent_back_from", "proposed_in")


@dataclass
class TimelineNames:
    queues: dict = field(default_factory=dict)  # id -> Queue
    users_by_id: dict = field(default_factory=dict)  # str(pk) -> User
    users_by_name: dict = field(default_factory=dict)  # username -> User
    policies: dict = field(default_factory=dict)  # code -> Policy
    outcomes: dict = field(default_factory=dict)  # code -> Outcome
    workflows: dict = field(default_factory=dict)  # slug -> Workflow
    stages: dict = field(default_factory=dict)  # (version id, key) -> Stage
    latest_stages: dict = field(default_factory=dict)  # key -> Stage of the case's latest version that has it
    review_versions: dict = field(default_factory=dict)  # str(review id) -> workflow version id

    def stage(self, key: str, review_id: str | None = None) -> Stage | None:
        """The stage `key` of the review's workflow version, else of the case's latest version that has it."""
        version = self.review_versions.get(str(review_id)) if review_id else None
        return self.stages.get((version, key)) or self.latest_stages.get(key)


def _wanted(events: Iterable[AuditEvent], keys: tuple[str, ...]) -> set[str | int]:
    out: set[str | int] = set()
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        for key in keys:
            value = data.get(key)
            if isinstance(value, list):
                out.update(v for v in value if isinstance(v, str | int) and not isinstance(v, bool))
            elif isinstance(value, str | int) and not isinstance(value, bool) and value != "":
                out.add(value)
    return out


def timeline_names(*, events: Sequence[AuditEvent], case: Case, reviews: Sequence[Review], known_users: Iterable = (),
                   known_policies: Iterable = (), known_outcomes: Iterable = ()) -> TimelineNames:
    """Resolves the names `events` refer to. `reviews` are the case's reviews
    (stage, version and workflow loaded); `known_*` are objects the caller
    has read anyway. At most five queries (see the module docstring)."""
    names = TimelineNames()
    names.queues[case.queue_id] = case.queue
    for review in reviews:
        stage = review.stage
        names.review_versions[str(review.pk)] = stage.version_id
        names.stages[(stage.version_id, stage.key)] = stage
        names.latest_stages[stage.key] = stage
        names.workflows[stage.version.workflow.slug] = stage.version.workflow
        for outcome in (review.result_outcome, review.proposed_outcome):
            if outcome is not None:
                names.outcomes[outcome.code] = outcome
    names.policies.update({p.code: p for p in known_policies if p is not None})
    names.outcomes.update({o.code: o for o in known_outcomes if o is not None})

    # Every stage of the case's versions: a target such as "to_stage" may name one never opened.
    versions = {review.stage.version_id for review in reviews}
    missing_stages = _wanted(events, STAGE_KEYS) - {key for (_v, key) in names.stages}
    if versions and missing_stages:
        for stage in Stage.objects.filter(version_id__in=versions, key__in=missing_stages).order_by("version_id"):
            names.stages[(stage.version_id, stage.key)] = stage
            names.latest_stages.setdefault(stage.key, stage)

    queue_ids = {q for q in _wanted(events, QUEUE_KEYS) if isinstance(q, int)} - set(names.queues)
    if queue_ids:
        names.queues.update({q.pk: q for q in Queue.objects.filter(pk__in=queue_ids)})
    codes = {c for c in _wanted(events, POLICY_KEYS) if isinstance(c, str)} - set(names.policies)
    if codes:
        names.policies.update({p.code: p for p in Policy.objects.filter(code__in=codes)})
    codes = {c for c in _wanted(events, OUTCOME_KEYS) if isinstance(c, str)} - set(names.outcomes)
    if codes:
        names.outcomes.update({o.code: o for o in Outcome.objects.filter(code__in=codes)})

    for user in known_users:
        if user is not None:
            names.users_by_id[str(user.pk)] = user
            names.users_by_name[user.get_username()] = user
    user_ids = {str(e.actor_id) for e in events if e.actor_type == "user" and e.actor_id}
    user_ids |= {str(v) for v in _wanted(events, USER_ID_KEYS)}
    user_ids = {u for u in user_ids if u.isdigit()} - set(names.users_by_id)
    usernames = {str(v) for v in _wanted(events, USER_NAME_KEYS + USER_LIST_KEYS)} - set(names.users_by_name)
    if user_ids or usernames:
        model = get_user_model()
        found = model.objects.filter(pk__in=[int(u) for u in user_ids]) | model.objects.filter(
            **{f"{model.USERNAME_FIELD}__in": usernames})
        for user in found.only("id", model.USERNAME_FIELD, "first_name", "last_name"):
            names.users_by_id[str(user.pk)] = user
            names.users_by_name[user.get_username()] = user
    return names
