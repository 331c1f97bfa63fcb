"""`manage.py export_audit`: events as JSON lines, oldest first, with their
hashes, so that an export can be checked without the database."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils.dateparse import parse_datetime

from audit.context import Actor
from audit.hashing import GENESIS, event_hash
from audit.models import AuditEvent
from audit.services import CONFIG_STREAM

from .conftest import record

pytestmark = pytest.mark.django_db


def export(*args):
    out = StringIO()
    call_command("export_audit", *args, stdout=out)
    text = out.getvalue()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.split("\n") if line]


@pytest.fixture
def events():
    made = [
        record("case:1", action="case.opened", new_stream=True, data={"n": 0}),
        record(CONFIG_STREAM, action="policy.changed", actor=Actor.api_client(4, "forum"), data={"n": 1}),
        record("case:1", data={"n": 2, "text": "line\nbreak \u2028 \u2029 \x85 é 日本"}),
        record("case:1", data={"n": 3, "floats": [0.1, 1e20, 1e-7]}),
    ]
    return [AuditEvent.objects.get(pk=e.pk) for e in made]


def iso(moment):
    return moment.isoformat(timespec="microseconds")


def test_every_event_as_one_json_line_with_hashes(events):
    lines = export("--format", "jsonl")
    assert [line["id"] for line in lines] == [e.pk for e in events]
    first = lines[0]
    assert set(first) == {"id", "stream", "seq", "action", "actor", "target", "data", "request_id", "ip", "created_at",
                          "prev_hash", "hash", "key_id"}
    assert first["prev_hash"] == GENESIS and first["hash"] == events[0].hash
    assert lines[1]["actor"] == {"type": "api_client", "id": "4", "name": "forum"}
    assert lines[3]["data"] == {"n": 3, "floats": [0.1, 10**20, 1e-7]}


def test_export_can_be_verified_without_the_database(events):
    prev = {}
    for line in export():
        assert line["prev_hash"] == prev.get(line["stream"], GENESIS)
        recomputed = event_hash(
            stream=line["stream"], seq=line["seq"], action=line["action"], actor_type=line["actor"]["type"],
            actor_id=line["actor"]["id"], actor_name=line["actor"]["name"], target_type=line["target"]["type"],
            target_id=line["target"]["id"], data=line["data"], request_id=line["request_id"], ip=line["ip"],
            created_at=parse_datetime(line["created_at"]), prev_hash=line["prev_hash"], key_id=line["key_id"],
        )
        assert recomputed == line["hash"]
        prev[line["stream"]] = line["hash"]


def test_line_breaks_inside_data_never_split_an_event(events):
    out = StringIO()
    call_command("export_audit", stdout=out)
    raw = out.getvalue()
    assert len(raw.splitlines()) == len(events)  # splitlines() also breaks on U+2028, U+2029, U+0085
    assert json.loads(raw.splitlines()[2])["data"]["text"] == "line\nbreak \u2028 \u2029 \x85 é 日本"
    assert "日本" in raw  # not \u-escaped


def test_since_is_inclusive_and_until_exclusive(events):
    cut = events[2].created_at
    assert [line["id"] for line in export("--since", iso(cut))] == [e.pk for e in events if e.created_at >= cut]
    assert [line["id"] for line in export("--until", iso(cut))] == [e.pk for e in events if e.created_at < cut]
    assert export("--since", iso(events[-1].created_at + timedelta(microseconds=1))) == []
    later = iso(events[-1].created_at)
    assert [line["id"] for line in export("--since", iso(cut), "--until", later)] == [events[2].pk]


def test_since_accepts_other_time_zones_and_z(events):
    cut = events[1].created_at
    expected = [e.pk for e in events if e.created_at >= cut]
    plus_two = cut.astimezone(parse_datetime("2026-01-01T00:00:00+02:00").tzinfo)
    assert [line["id"] for line in export("--since", plus_two.isoformat())] == expected
    zulu = cut.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert [line["id"] for line in export("--since", zulu)] == expected


def test_stream_filter(events):
    assert [line["seq"] for line in export("--stream", "case:1")] == [1, 2, 3]
    assert export("--stream", "case:404") == []


@pytest.mark.parametrize("bad", ["yesterday", "2026-01-01T00:00:00", "2026-01-01", "2026-13-01T00:00:00Z",
                                 "2026-02-30T10:00:00+00:00", "", "   "])
def test_bad_since_is_an_error(events, bad):
    with pytest.raises(CommandError, match="--since"):
        export("--since", bad)


def test_bad_until_and_format_are_errors(events):
    with pytest.raises(CommandError, match="--until"):
        export("--until", "2026-13-01T00:00:00Z")
    with pytest.raises(CommandError):
        export("--format", "csv")


def test_empty_trail_exports_nothing():
    assert export() == []
