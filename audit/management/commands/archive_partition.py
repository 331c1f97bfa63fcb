from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor
from audit.partitions import PartitionError, partition_archive
from audit.services import audit_checkpoint_create


class Command(BaseCommand):
    help = ("Exports a closed monthly audit partition with the checkpoints covering it to DIR/<partition>.jsonl, "
            "verifies the file, records where each of its streams ends, audits it (audit.partition_archived), "
            "and detaches the partition (--drop: and drops it). Refuses a partition that is still current, not "
            "fully checkpointed, or not the oldest attached. Run as the table owner (the role of migrate). "
            "Verify an archive with verify_audit --archive FILE.")

    def add_arguments(self, parser):
        parser.add_argument("partition", help="e.g. audit_auditevent_p202601 (manage.py audit_partitions lists them)")
        parser.add_argument("--dir", required=True, help="directory to write the archive file into")
        parser.add_argument("--drop", action="store_true", help="drop the partition after detaching it")
        parser.add_argument("--checkpoint", action="store_true", help="take a checkpoint first")

    def handle(self, *args, **options):
        from django.db import DatabaseError

        try:
            if options["checkpoint"]:
                audit_checkpoint_create()
            archive = partition_archive(options["partition"], out_dir=options["dir"], drop=options["drop"],
                                        actor=Actor.system("manage.py archive_partition"))
        except PartitionError as exc:
            raise CommandError(f"not archived: {exc}") from None
        except DatabaseError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == "42501" or "must be owner" in str(exc):
                raise CommandError("not archived: detaching a partition needs the table owner's role "
                                   "(the DATABASE_URL that runs migrate), not the application role") from None
            raise
        self.stdout.write(
            f"archived {archive.partition} as archive {archive.number}: {archive.events} events in {archive.streams} "
            f"streams, file {archive.file_name} sha256 {archive.file_sha256}; "
            f"{'detached and dropped' if archive.dropped else 'detached (drop it when the file is safe)'}"
        )
