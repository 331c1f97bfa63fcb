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

    from reviews.models import Review, SlaPolicy
    from tests.seeding import prepare_filing

    file = prepare_filing()
    SlaPolicy.objects.update_or_create(name="tests: short review SLA", defaults=dict(
        stage_kind="review", duration_seconds=options.sla, warn_fraction=options.warn_fraction, active=True))
    case_id = file(options.external_id)
    review = Review.objects.get(case_id=case_id, state="open")
    json.dump({"case": str(case_id), "review": str(review.pk), "warn_at": review.warn_at.isoformat(),
               "due_at": review.due_at.isoformat(), "sla_seconds": review.sla_seconds}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
