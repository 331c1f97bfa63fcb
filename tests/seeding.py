"""Sets up, in whatever database Django is configured for, what filing a
report needs (the default policy book and queue, the groups with members,
the default workflows), for scripts that tests run as subprocesses against a
database of their own. Idempotent. Test tooling, not product code."""


def prepare_filing(*, extra_users=()):
    """Creates what filing needs; returns a function file(external_id) ->
    case id that files one spam report through the real intake.
    `extra_users`: (username, group) pairs to create as well."""
    from django.contrib.auth.models import Group, User

    from audit.context import Actor
    from cases.models import Policy, Queue, Source
    from cases.policybook import DEFAULT_POLICIES
    from cases.services import ReportInput, SubjectInput
    from reviews.intake import report_intake
    from reviews.workflows import GROUPS, install_default_workflows

    actor = Actor.system("tests")
    for code, name, description, severity, category in DEFAULT_POLICIES:
        Policy.objects.get_or_create(code=code, defaults=dict(name=name, description=description, severity=severity,
                                                              dsa_category=category))
    Queue.objects.get_or_create(slug="general", defaults=dict(name="General", is_default=True))
    for group in GROUPS:
        Group.objects.get_or_create(name=group)
    people = [(f"mod{i}", "moderator") for i in range(1, 4)] + [(f"senior{i}", "senior_moderator") for i in (1, 2)]
    for name, group in [*people, *extra_users]:
        user, _ = User.objects.get_or_create(username=name)
        user.groups.add(Group.objects.get(name=group))
    install_default_workflows(actor=actor)
    source = Source.objects.get_or_create(name="forum")[0]
    spam = Policy.objects.get(code="spam")

    def file(external_id):
        item = ReportInput(
            subject=SubjectInput(kind="content", external_id=external_id, fields={"latest_text": "text"},
                                 as_received={"kind": "content", "external_id": external_id}),
            policy=spam, reporter_kind="user", reporter_external_id="r1",
        )
        return report_intake(source=source, api_client_id=None, actor=actor, item=item).case_id

    return file
