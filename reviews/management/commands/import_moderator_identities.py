import csv
import sys

from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor
from cases.errors import DomainError
from reviews.services.configuration import IDENTITY_CSV_COLUMNS, moderator_identities_import


class Command(BaseCommand):
    help = ("Imports moderators' own platform identities from a CSV file with the header "
            "username,source,external_id ('-' reads standard input). All or nothing; audited.")

    def add_arguments(self, parser):
        parser.add_argument("path", help="CSV file, or - for standard input")
        parser.add_argument("--replace", action="store_true",
                            help="the users in the file lose identities the file does not list for them")
        parser.add_argument("--actor", default="import_moderator_identities",
                            help="name recorded as the system actor in the audit trail")

    def handle(self, *args, path, replace, actor, **options):
        try:
            handle = sys.stdin if path == "-" else open(path, newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        with handle:
            try:
                reader = csv.DictReader(handle)
                missing = [c for c in IDENTITY_CSV_COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise CommandError(f"the header must name {', '.join(IDENTITY_CSV_COLUMNS)}; "
                                       f"missing: {', '.join(missing)}")
                rows = list(reader)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise CommandError(f"{path} is not a readable UTF-8 CSV file: {exc}") from exc
        try:
            result = moderator_identities_import(rows=rows, actor=Actor.system(actor), replace_for_users=replace)
        except DomainError as exc:
            raise CommandError(f"nothing was imported: {exc}") from exc
        self.stdout.write(f"{result.created} identities added, {result.existing} already present")
