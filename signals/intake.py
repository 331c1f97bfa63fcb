"""The signals of the reports of one intake call: one SQL statement (one
round trip, the function signals_reports_batch) that, for each report in
order, reads the reporter's reputation, updates the subject's counters,
counts co-reporting pairs, stores keyed identifier links, finds linked
sanctioned accounts, matches media against the hash lists and stores the
report's snapshot (ReportSignals); then a pure verdict per report.

Called through `cases.services.IntakeHooks.reports_signals` while intake holds
the subject row lock, so concurrent reports about one subject update its
counters one after the other. PostgreSQL only: on another database the plain
weights apply (None)."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

from cases.models import SubjectKind
from cases.priority import REPORTER_WEIGHTS
from cases.services import ReportInput, ReportVerdict

from . import brigade, pdq
from .identifiers import digest, source_key
from .reputation import LOW_REPUTATION, prior, reporter_key, reputation_factor
from .text import NEAR_DUPLICATE_BITS, simhash

FLAG_COORDINATED = "coordinated_reporting"
FLAG_EVASION = "possible_ban_evasion"
FLAG_HASH_MATCH = "hash_list_match"
FLAGS = (FLAG_COORDINATED, FLAG_EVASION, FLAG_HASH_MATCH)
RING = 16  # reporters remembered per subject (bounds the co-report pairs per report)
SIMHASH_RING = 32  # descriptions remembered per subject

# The intake function (migration signals.0002): one call runs the statement of every report of an intake
# call, in order, each seeing what the reports before it wrote, and stores each report's snapshot.
_STATEMENT = """
SELECT o_item, o_reports, o_weak, o_near, o_co, o_burst, o_linked, o_matched, o_upheld, o_rejected, o_is_weak
FROM signals_reports_batch(
    %(source)s, %(now)s, %(expires)s, %(alpha)s, %(beta)s, %(low)s, %(fast)s, %(slow)s, %(burst_min)s,
    %(near_bits)s, %(ring)s, %(simhash_ring)s,
    %(reports)s::uuid[], %(subjects)s::uuid[], %(kinds)s::text[], %(keys)s::text[], %(tokens)s::text[],
    %(simhashes)s::bigint[],
    %(link_bounds)s::int[], %(link_subjects)s::uuid[], %(link_kinds)s::text[], %(link_digests)s::text[],
    %(sha_bounds)s::int[], %(sha256s)s::text[],
    %(probe_bounds)s::int[], %(probe_hashes)s::text[], %(probe_bands)s::int[], %(probe_values)s::int[])
ORDER BY o_item
"""


@dataclass(frozen=True)
class IntakeSignals:
    """What the statement found about one report; `verdict` is what intake uses."""

    counters: brigade.Counters
    brigade: brigade.BrigadeVerdict
    reputation: tuple[float, float] | None  # (upheld, rejected); None: no record
    weak: bool
    linked_sanctioned: list
    verdict: ReportVerdict


def _accounts(*, subject_id, author_id, item: ReportInput) -> list[tuple[object, dict]]:
    """(account subject id, {kind: raw value}) for the accounts the report carries identifiers for."""
    signals = item.signals or {}
    accounts = []
    if signals.get("subject") and item.subject.kind == SubjectKind.ACCOUNT:
        accounts.append((subject_id, signals["subject"]))
    if signals.get("author") and author_id is not None:
        accounts.append((author_id, signals["author"]))
    return accounts


def item_params(*, source, api_client_id, subject_id, author_id, item: ReportInput) -> dict:
    """What the statement needs about one report (its identifiers keyed, its media hashes and PDQ probes)."""
    key = reporter_key(reporter_kind=item.reporter_kind, reporter_external_id=item.reporter_external_id,
                       api_client_id=api_client_id)
    hmac_key = source_key(source.pk)
    link_subjects, link_kinds, link_digests = [], [], []
    for account_id, identifiers in _accounts(subject_id=subject_id, author_id=author_id, item=item):
        for kind, raw in sorted(identifiers.items()):
            link_subjects.append(account_id)
            link_kinds.append(kind)
            link_digests.append(digest(key=hmac_key, kind=kind, value=raw))
    media = (item.signals or {}).get("media") or []
    sha256s = sorted({m["sha256"] for m in media if m.get("sha256")}
                     | {m["sha256"] for m in item.subject.fields.get("latest_media") or [] if m.get("sha256")})
    probe_hashes, probe_bands, probe_values = [], [], []
    for value in sorted({m["pdq"] for m in media if m.get("pdq")}):
        bands, values = pdq.probe_keys(value)
        probe_hashes += [value] * len(bands)
        probe_bands += bands
        probe_values += values
    return {"subject": subject_id, "kind": item.reporter_kind, "key": key,
            "token": f"{item.reporter_kind}:{key}" if key else "", "simhash": simhash(item.description),
            "link_subjects": link_subjects, "link_kinds": link_kinds, "link_digests": link_digests,
            "sha256s": sha256s, "probe_hashes": probe_hashes, "probe_bands": probe_bands, "probe_values": probe_values}


def statement_params(*, source, now: datetime, entries: list[tuple[Any, dict]]) -> dict:
    """The parameters of one call: the settings, then per report (report id, item_params) in order, as
    arrays; a report's identifiers, media hashes and probes are the slice between its bounds."""
    alpha, beta = prior()
    params: dict[str, Any] = {
        "source": source.pk, "now": now, "expires": now + timedelta(days=settings.SIGNALS_RETENTION_DAYS),
        "alpha": alpha, "beta": beta, "low": LOW_REPUTATION,
        "fast": brigade.FAST_SECONDS, "slow": brigade.SLOW_SECONDS, "burst_min": brigade.BURST_MIN_REPORTS,
        "near_bits": NEAR_DUPLICATE_BITS, "ring": RING, "simhash_ring": SIMHASH_RING,
        "reports": [report_id for report_id, _p in entries],
    }
    for name, column in (("subjects", "subject"), ("kinds", "kind"), ("keys", "key"), ("tokens", "token"),
                         ("simhashes", "simhash")):
        params[name] = [p[column] for _r, p in entries]
    for bounds, columns in (("link_bounds", ("link_subjects", "link_kinds", "link_digests")),
                            ("sha_bounds", ("sha256s",)),
                            ("probe_bounds", ("probe_hashes", "probe_bands", "probe_values"))):
        params[bounds] = [0]
        for column in columns:
            params[column] = []
        for _r, p in entries:
            for column in columns:
                params[column] += p[column]
            params[bounds].append(len(params[columns[0]]))
    return params


def reports_signals(*, source, api_client_id, now: datetime, entries: list[tuple[Any, Any, Any, ReportInput]]
                    ) -> list[IntakeSignals] | None:
    """Runs the statement for the reports of one intake call — `entries` are
    (report id, subject id, author id, item) in the order they are filed — and
    judges each; stores each report's snapshot (ReportSignals) under its id.
    One round trip whatever the number of reports, with the results of one
    statement per report in that order. Requires the intake transaction, with
    the subject (and author) rows locked. None on other databases."""
    if connection.vendor != "postgresql":
        return None
    if not entries:
        return []
    items = [(report_id, item_params(source=source, api_client_id=api_client_id, subject_id=subject_id,
                                     author_id=author_id, item=item))
             for report_id, subject_id, author_id, item in entries]
    params = statement_params(source=source, now=now, entries=items)
    connection.ensure_connection()
    # A server-side prepared statement on the same connection (and transaction) as Django's: the text is the
    # same for every call; the function's inner statement is planned once per session by PL/pgSQL.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_STATEMENT, params, prepare=True)
        rows = cursor.fetchall()
    return [_judged(row, item=entry[3], has_key=bool(p["key"])) for row, entry, (_r, p) in zip(rows, entries, items,
                                                                                                strict=True)]


def _judged(row: tuple, *, item: ReportInput, has_key: bool) -> IntakeSignals:
    (_item, reports, weak_reports, near, co_hits, burst, linked, matched, upheld, rejected, is_weak) = row
    counters = brigade.Counters(reports=reports, weak_reports=weak_reports, near_duplicate_reports=near,
                                co_report_hits=co_hits, burst_ratio=burst)
    judged = brigade.verdict(counters)
    reputation = None if upheld is None else (upheld, rejected)
    factor = reputation_factor(*reputation) if reputation is not None and has_key else 1.0
    linked = (json.loads(linked) if isinstance(linked, str) else linked) or []
    verdict = ReportVerdict(
        reporter_weight=REPORTER_WEIGHTS[item.reporter_kind] * factor,
        reporter_damping=judged.damping,
        priority_bonus=settings.SIGNALS_EVASION_BONUS if linked else 0,
        discounted=bool(is_weak),
        flags=tuple(name for name, on in ((FLAG_COORDINATED, judged.flagged), (FLAG_EVASION, bool(linked)),
                                          (FLAG_HASH_MATCH, bool(matched))) if on),
    )
    return IntakeSignals(counters=counters, brigade=judged, reputation=reputation, weak=bool(is_weak),
                         linked_sanctioned=linked, verdict=verdict)
