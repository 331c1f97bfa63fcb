from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.anchors import AnchorFormatError, read_anchors
from audit.keys import AuditKeyring, KeyringError, parse_key_entries
from audit.verify import verify_audit


class Command(BaseCommand):
    help = ("Walks every audit hash chain and checkpoint, checks them against the audit keys and the given anchors, "
            "and checks completeness. Exits 0 when intact, 1 naming the first problem. With --events and "
            "--checkpoints it verifies an export without the database.")

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="list every problem, not just the first")
        parser.add_argument("--anchors", action="append", default=[], metavar="FILE",
                            help="anchor file (AUDIT_ANCHOR_FILE) or a witness's JSON-lines record; repeatable. "
                                 "Default: AUDIT_ANCHOR_FILE when set")
        parser.add_argument("--anchors-s3", action="store_true",
                            help="also read every checkpoint object (all versions) of AUDIT_ANCHOR_S3_BUCKET")
        parser.add_argument("--no-anchor-file", action="store_true", help="do not read AUDIT_ANCHOR_FILE by default")
        parser.add_argument("--keys-file", metavar="FILE",
                            help="'<id> <secret>' lines to verify with instead of the configured audit keys")
        parser.add_argument("--events", metavar="FILE", help="offline: events exported by export_audit")
        parser.add_argument("--checkpoints", metavar="FILE", help="offline: export_audit --checkpoints output")
        parser.add_argument("--archive", action="append", default=[], metavar="FILE",
                            help="offline: an archive written by archive_partition; repeatable (archives of "
                                 "consecutive months are also checked to continue each other)")

    def handle(self, *args, **options):
        keys = self._keys(options["keys_file"])
        anchor_files = list(options["anchors"])
        if not anchor_files and not options["no_anchor_file"] and settings.AUDIT_ANCHOR_FILE \
                and Path(settings.AUDIT_ANCHOR_FILE).exists():
            anchor_files.append(settings.AUDIT_ANCHOR_FILE)
        anchors = []
        for path in anchor_files:
            try:
                anchors.extend(read_anchors(path))
            except OSError as exc:
                raise CommandError(f"cannot read anchors {path!r}: {exc.strerror}") from None
            except AnchorFormatError as exc:
                raise CommandError(f"malformed anchors: {exc}") from None
        if options["anchors_s3"]:
            anchors.extend(self._s3_anchors())
        if bool(options["events"]) != bool(options["checkpoints"]):
            raise CommandError("--events and --checkpoints go together (an offline verification needs both)")
        if options["archive"]:
            result = self._archives(options, anchors, keys)
            what = "archive"
        elif options["events"]:
            result = self._offline(options, anchors, keys)
            what = "export"
        else:
            result = verify_audit(stop_at_first=not options["all"], anchors=anchors, keys=keys)
            what = "audit trail"
        if not result.ok:
            for problem in result.problems:
                self.stderr.write(f"{what} broken: {problem}")
            raise CommandError(
                f"audit verification failed ({len(result.problems)} problem(s)); first: {result.problems[0]}", returncode=1
            )
        anchored = (f", {result.anchored} anchored (last: {result.last_anchored})" if anchors
                    else " (no anchors given: rewriting by a key holder is not ruled out)")
        self.stdout.write(
            f"{what} intact: {result.events} events in {result.streams} streams, "
            f"{result.checkpoints} checkpoints{anchored}"
        )

    def _s3_anchors(self):
        if not settings.AUDIT_ANCHOR_S3_BUCKET:
            raise CommandError("--anchors-s3 needs AUDIT_ANCHOR_S3_BUCKET")
        from botocore.exceptions import BotoCoreError, ClientError

        from audit.anchors_s3 import read_s3_anchors

        try:
            return read_s3_anchors()
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"cannot read the S3 anchors: {exc}") from None
        except AnchorFormatError as exc:
            raise CommandError(f"malformed anchors: {exc}") from None

    def _keys(self, path):
        if not path:
            return None
        try:
            secrets = parse_key_entries(Path(path).read_text(encoding="utf-8").splitlines(), source=path, separator=" ")
        except OSError as exc:
            raise CommandError(f"cannot read --keys-file {path!r}: {exc.strerror}") from None
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
        if not secrets:
            raise CommandError(f"--keys-file {path!r} holds no key")
        return AuditKeyring(current_id=list(secrets)[-1], secrets=secrets)

    def _offline(self, options, anchors, keys):
        from audit.keys import keyring
        from audit.offline import ExportFormatError, read_checkpoints, read_events, verify_export

        try:
            with open(options["events"], encoding="utf-8") as handle:
                events = read_events(handle, options["events"])
            with open(options["checkpoints"], encoding="utf-8") as handle:
                checkpoints = read_checkpoints(handle, options["checkpoints"])
        except OSError as exc:
            raise CommandError(f"cannot read the export: {exc}") from None
        except ExportFormatError as exc:
            raise CommandError(str(exc)) from None
        return verify_export(events=events, checkpoints=checkpoints, anchors=anchors, keys=keys or keyring(),
                             stop_at_first=not options["all"])

    def _archives(self, options, anchors, keys):
        import hashlib

        from audit.keys import keyring
        from audit.offline import ExportFormatError, verify_archive
        from audit.verify import Problem, VerifyResult

        total = VerifyResult()
        loaded = []
        for path in options["archive"]:
            try:
                with open(path, "rb") as handle:
                    raw = handle.read()
                lines = raw.decode("utf-8").splitlines()
                result = verify_archive(lines, source=path, anchors=anchors, keys=keys or keyring(),
                                        stop_at_first=not options["all"])
            except OSError as exc:
                raise CommandError(f"cannot read the archive {path!r}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise CommandError(f"{path}: not UTF-8 text") from None
            except ExportFormatError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"{path}: sha256 {hashlib.sha256(raw).hexdigest()} (compare with the "
                              f"audit.partition_archived event's file_sha256)")
            for name in ("events", "streams", "checkpoints", "anchored"):
                setattr(total, name, getattr(total, name) + getattr(result, name))
            total.last_anchored = result.last_anchored or total.last_anchored
            total.problems.extend(f"{path}: {problem}" for problem in result.problems)
            loaded.append((path, lines))
        # Consecutive archives: a stream's start in a later one is its end in the earlier ones.
        ends: dict = {}
        for path, lines in sorted(loaded, key=lambda item: _range_start(item[1])):
            starts, last = {}, {}
            for line in lines:
                record = _json(line)
                if record.get("type") == "start":
                    starts[record["stream"]] = (record["seq"], record["hash"])
                elif record.get("type") == "event":
                    last[record["stream"]] = (record["seq"], record["hash"])
            for stream, start in sorted(starts.items()):
                if stream in ends and ends[stream] != start:
                    total.problems.append(Problem(f"{path}: starts at seq {start[0]}, but the earlier archive ends at "
                                                  f"seq {ends[stream][0]}", stream=stream))
            ends.update(last)
        return total


def _json(line):
    import json

    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _range_start(lines):
    return str(_json(lines[0]).get("range_start", "")) if lines else ""
