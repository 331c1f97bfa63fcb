"""manage.py load_hash_list NAME FILE [--pdq-threshold N] [--replace]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor
from signals.services import HashListError, hash_list_load


class Command(BaseCommand):
    help = ("Loads a hash list (CSV `algorithm,hash[,label]` or one SHA-256 a line; '-' reads standard input). "
            "All or nothing: a bad line loads nothing.")

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("file")
        parser.add_argument("--pdq-threshold", type=int, default=None)
        parser.add_argument("--replace", action="store_true", help="the list holds exactly the file's hashes after")

    def handle(self, *args, name, file, pdq_threshold, replace, **options):
        try:
            text = self.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        try:
            hash_list = hash_list_load(name=name, text=text, actor=Actor.system("load_hash_list"),
                                       pdq_threshold=pdq_threshold, replace=replace)
        except HashListError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{hash_list.name}: {hash_list.entries.count()} hashes")
