"""manage.py transparency_report --from 2026-01-01 --to 2026-06-30 --format json|csv [--output FILE] [--check]"""

import json
from datetime import UTC, date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError

from trust.transparency import as_csv, audit_disagreements, audit_replay, transparency_report


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


class Command(BaseCommand):
    help = ("The DSA transparency report for a period (both days included, UTC): notices, actions, complaints, "
            "Art. 23 measures, each figure with the ids of the cases behind it.")

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD (UTC)")
        parser.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD (UTC), included")
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--output", help="write to this file instead of standard output")
        parser.add_argument("--check", action="store_true",
                            help="also recount the decision and appeal figures from the audit trail's events and "
                                 "fail (exit 1) naming each figure that differs")

    def handle(self, *args, start, end, format, output, check=False, **options):
        first, last = _day(start, "--from"), _day(end, "--to")
        if last < first:
            raise CommandError(f"--to ({last}) is before --from ({first})")
        period = dict(start=datetime.combine(first, time.min, tzinfo=UTC),
                      end=datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC))
        report = transparency_report(**period)
        text = as_csv(report) if format == "csv" else json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        if output:
            with open(output, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        else:
            self.stdout.write(text, ending="")
        if check:
            disagreements = audit_disagreements(report, audit_replay(**period))
            for line in disagreements:
                self.stderr.write(line)
            if disagreements:
                raise CommandError(f"{len(disagreements)} figure(s) differ from the audit trail's replay")
            self.stderr.write("the decision and appeal figures agree with the audit trail")
