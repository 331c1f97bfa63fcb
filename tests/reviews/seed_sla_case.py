"""Files one report with a short SLA into whatever database DATABASE_URL names,
for tests that run Quorum against a database of their own (not the pytest
one). Prints the new case and its review's deadlines as JSON.

    DATABASE_URL=... python -m tests.reviews.seed_sla_case EXTERNAL_ID --sla 3

Sets up what filing needs (groups with members, the default workflows, an
SLA policy for review stages) idempotently. Test tooling, not product code.
"""

import argparse
import json
import os
import sys


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("external_id")
    parser.add_argument("--sla", type=int, required=True, help="SLA of review stages, in seconds")
    parser.add_argument("--warn-fraction", type=float, default=0.5)
    options = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

    from django.contrib.auth.models import Group, User

    from audit.context import Actor
    from cases.models import Policy, Queue, Source
    from cases.policybook import DEFAULT_POLICIES
    from cases.services import ReportInput, SubjectInput
    from reviews.intake import report_intake
    from reviews.models import Review, SlaPolicy
    from reviews.workflows import GROUPS, install_default_workflows

    actor = Actor.system("tests")
    for code, name, description, severity, category in DEFAULT_POLICIES:
        Policy.objects.get_or_create(code=code, defaults=dict(name=name, description=description, severity=severity,
                                                              dsa_category=category))
    Queue.objects.get_or_create(slug="general", defaults=dict(name="General", is_default=True))
    for group in GROUPS:
        Group.objects.get_or_create(name=group)
    for name, group in [(f"mod{i}", "moderator") for i in range(1, 4)] + [(f"senior{i}", "senior_moderator") for i in (1, 2)]:
        user, _ = User.objects.get_or_create(username=name)
        user.groups.add(Group.objects.get(name=group))
    install_default_workflows(actor=actor)
    SlaPolicy.objects.update_or_create(name="tests: short review SLA", defaults=dict(
        stage_kind="review", duration_seconds=options.sla, warn_fraction=options.warn_fraction, active=True))

    source = Source.objects.get_or_create(name="forum")[0]
    item = ReportInput(
        subject=SubjectInput(kind="content", external_id=options.external_id, fields={"latest_text": "text"},
                             as_received={"kind": "content", "external_id": options.external_id}),
        policy=Policy.objects.get(code="spam"), reporter_kind="user", reporter_external_id="r1",
    )
    case_id = report_intake(source=source, api_client_id=None, actor=actor, item=item).case_id
    review = Review.objects.get(case_id=case_id, state="open")
    json.dump({"case": str(case_id), "review": str(review.pk), "warn_at": review.warn_at.isoformat(),
               "due_at": review.due_at.isoformat(), "sla_seconds": review.sla_seconds}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
