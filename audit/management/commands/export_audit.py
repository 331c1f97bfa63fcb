import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from audit.models import AuditCheckpoint, AuditEvent

# Valid inside JSON strings, but line breaks to str.splitlines() and to
# JavaScript: escaped so that one event is always exactly one line.
_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


class Command(BaseCommand):
    help = "Streams audit events as JSON lines, oldest first."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="ISO 8601 time (inclusive), e.g. 2026-01-01T00:00:00Z")
        parser.add_argument("--until", help="ISO 8601 time (exclusive)")
        parser.add_argument("--stream", help="only this stream, e.g. case:<id>")
        parser.add_argument("--format", default="jsonl", choices=["jsonl"])
        parser.add_argument("--checkpoints", action="store_true",
                            help="export the checkpoints instead of the events (for an offline verify_audit)")

    def _time(self, name, value):
        try:
            parsed = parse_datetime(value)
        except ValueError:  # well formed but impossible, e.g. month 13
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise CommandError(f"--{name} {value!r} is not an ISO 8601 time with a time zone")
        return parsed

    def handle(self, *args, **options):
        if options["checkpoints"]:
            for cp in AuditCheckpoint.objects.order_by("number").iterator(chunk_size=200):
                self.stdout.write(json.dumps({
                    "number": cp.number, "created_at": cp.created_at.isoformat(timespec="microseconds"),
                    "heads": cp.heads, "prev_hash": cp.prev_hash, "hash": cp.hash, "key_id": cp.key_id,
                }, ensure_ascii=False, sort_keys=True).translate(_LINE_BREAKS), ending="\n")
            return
        events = AuditEvent.objects.order_by("created_at", "id")
        if options["since"] is not None:
            events = events.filter(created_at__gte=self._time("since", options["since"]))
        if options["until"] is not None:
            events = events.filter(created_at__lt=self._time("until", options["until"]))
        if options["stream"]:
            events = events.filter(stream=options["stream"])
        out = self.stdout
        for e in events.iterator(chunk_size=2000):
            line = json.dumps({
                "id": e.pk, "stream": e.stream, "seq": e.seq, "action": e.action,
                "actor": {"type": e.actor_type, "id": e.actor_id, "name": e.actor_name},
                "target": {"type": e.target_type, "id": e.target_id}, "data": e.data,
                "request_id": e.request_id, "ip": e.ip,
                "created_at": e.created_at.isoformat(timespec="microseconds"),
                "prev_hash": e.prev_hash, "hash": e.hash, "key_id": e.key_id,
            }, ensure_ascii=False, sort_keys=True)
            out.write(line.translate(_LINE_BREAKS), ending="\n")
