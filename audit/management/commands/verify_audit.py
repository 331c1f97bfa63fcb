from django.core.management.base import BaseCommand, CommandError

from audit.verify import verify_audit


class Command(BaseCommand):
    help = "Walks every audit hash chain and checkpoint. Exits 0 when intact, 1 naming the first bad event."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="list every problem, not just the first")

    def handle(self, *args, **options):
        result = verify_audit(stop_at_first=not options["all"])
        if not result.ok:
            for problem in result.problems:
                self.stderr.write(f"audit trail broken: {problem}")
            raise CommandError(
                f"audit verification failed ({len(result.problems)} problem(s)); first: {result.problems[0]}", returncode=1
            )
        self.stdout.write(
            f"audit trail intact: {result.events} events in {result.streams} streams, "
            f"{result.checkpoints} checkpoints"
        )
