from django.core.management.base import BaseCommand, CommandError

from audit.partitions import PartitionError, partitions_ensure, partitions_list


class Command(BaseCommand):
    help = ("Creates the monthly audit event partitions of this month and the next ones (idempotent; events of "
            "those months that went to the default partition are moved into them), then lists the partitions. "
            "PostgreSQL only.")

    def add_arguments(self, parser):
        parser.add_argument("--months-ahead", type=int, default=2, help="months after the current one (default 2)")

    def handle(self, *args, **options):
        if options["months_ahead"] < 0 or options["months_ahead"] > 120:
            raise CommandError("--months-ahead must be between 0 and 120")
        try:
            made = partitions_ensure(options["months_ahead"])
            partitions = partitions_list()
        except PartitionError as exc:
            raise CommandError(str(exc)) from None
        for name in made:
            self.stdout.write(f"created {name}")
        for p in partitions:
            span = "default" if p.start is None else f"{p.start:%Y-%m-%d} .. {p.end:%Y-%m-%d}"
            rows = "not analysed" if p.rows < 0 else f"~{p.rows} rows"
            self.stdout.write(f"{p.name}  {span}  {rows}")
