"""The signals of one report at intake: one SQL statement (one round trip)
that reads the reporter's reputation, updates the subject's counters, counts
co-reporting pairs, stores keyed identifier links, finds linked sanctioned
accounts and matches media against the hash lists; then a pure verdict.

Called through `cases.services.IntakeHooks.report_signals` while intake holds
the subject row lock, so concurrent reports about one subject update its
counters one after the other. PostgreSQL only: on another database the plain
weights apply (None)."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

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

_STATEMENT = """
WITH cur AS (SELECT (SELECT id FROM cases_case WHERE subject_id = %(subject)s AND closed_at IS NULL) AS id),
rep AS (SELECT upheld, rejected FROM signals_reporterreputation
        WHERE source_id = %(source)s AND reporter_kind = %(kind)s AND reporter_key = %(key)s),
weak AS (SELECT %(kind)s <> 'automated' AND (NOT EXISTS (SELECT 1 FROM rep) OR EXISTS (
           SELECT 1 FROM rep WHERE (%(alpha)s + upheld) / (%(alpha)s + %(beta)s + upheld + rejected) < %(low)s
                                OR upheld + rejected < 1)) AS is_weak),
base AS (
  SELECT cur.id AS case_id,
         (o.subject_id IS NULL OR (o.case_id IS NOT NULL AND o.case_id IS DISTINCT FROM cur.id)) AS fresh,
         COALESCE(o.rate_fast * exp(-LEAST(600, GREATEST(0, extract(epoch FROM %(now)s - o.last_report_at)) / %(fast)s)), 0)
           + 1 AS rate_fast,
         COALESCE(o.rate_slow * exp(-LEAST(600, GREATEST(0, extract(epoch FROM %(now)s - o.last_report_at)) / %(slow)s)), 0)
           + 1 AS rate_slow,
         o.reports, o.weak_reports, o.near_duplicate_reports, o.co_report_hits, o.burst_ratio,
         o.recent_reporters, o.recent_simhashes, o.linked_sanctioned, o.hash_matches
  FROM cur LEFT JOIN signals_subjectsignals o ON o.subject_id = %(subject)s
),
b AS (
  SELECT case_id, fresh, rate_fast, rate_slow,
         CASE WHEN fresh THEN 0 ELSE reports END AS reports,
         CASE WHEN fresh THEN 0 ELSE weak_reports END AS weak_reports,
         CASE WHEN fresh THEN 0 ELSE near_duplicate_reports END AS near_duplicate_reports,
         CASE WHEN fresh THEN 0 ELSE co_report_hits END AS co_report_hits,
         CASE WHEN fresh THEN 0 ELSE burst_ratio END AS burst_ratio,
         CASE WHEN fresh THEN '[]'::jsonb ELSE recent_reporters END AS ring,
         CASE WHEN fresh THEN '[]'::jsonb ELSE recent_simhashes END AS hashes,
         CASE WHEN fresh THEN '[]'::jsonb ELSE linked_sanctioned END AS linked,
         CASE WHEN fresh THEN '[]'::jsonb ELSE hash_matches END AS matched
  FROM base
),
pairs AS (
  INSERT INTO signals_coreportpair (source_id, reporter_a, reporter_b, count, last_at)
  SELECT %(source)s, LEAST(o.t, %(token)s), GREATEST(o.t, %(token)s), 1, %(now)s
  FROM b, jsonb_array_elements_text(b.ring) AS o(t)
  WHERE %(token)s <> '' AND NOT jsonb_exists(b.ring, %(token)s) AND o.t <> %(token)s
  ORDER BY 2, 3
  ON CONFLICT (source_id, reporter_a, reporter_b)
  DO UPDATE SET count = signals_coreportpair.count + 1, last_at = EXCLUDED.last_at
  RETURNING count
),
links AS (
  INSERT INTO signals_identifierlink (source_id, kind, digest, subject_id, expires_at)
  SELECT %(source)s, q.kind, q.digest, q.subject_id, %(expires)s
  FROM unnest(%(link_subjects)s::uuid[], %(link_kinds)s::text[], %(link_digests)s::text[]) AS q(subject_id, kind, digest)
  ORDER BY 2, 3, 4
  ON CONFLICT (source_id, kind, digest, subject_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
  RETURNING 1
),
linked AS (
  SELECT jsonb_agg(DISTINCT jsonb_build_object('subject_id', l.subject_id, 'case_id', s.case_id,
                                               'outcome', s.outcome, 'via', l.kind)) AS found
  FROM unnest(%(link_kinds)s::text[], %(link_digests)s::text[]) AS q(kind, digest)
  JOIN signals_identifierlink l ON l.source_id = %(source)s AND l.kind = q.kind AND l.digest = q.digest
  JOIN signals_accountsanction s ON s.subject_id = l.subject_id
  WHERE l.expires_at > %(now)s AND NOT (l.subject_id = ANY(%(link_subjects)s::uuid[]))
),
matches AS (
  SELECT jsonb_agg(DISTINCT jsonb_build_object('list', m.name, 'algorithm', m.algorithm, 'value', m.value,
                                               'label', m.label, 'distance', m.distance)) AS found
  FROM (
    SELECT h.name, e.algorithm, e.value, e.label, 0 AS distance
    FROM signals_hashlistentry e JOIN signals_hashlist h ON h.id = e.hash_list_id AND h.active
    WHERE e.algorithm = 'sha256' AND e.value = ANY(%(sha256s)s::text[])
    UNION
    SELECT h.name, e.algorithm, e.value, e.label,
           bit_count(('x' || e.value)::bit(256) # ('x' || q.pdq)::bit(256)) AS distance
    FROM unnest(%(probe_hashes)s::text[], %(probe_bands)s::int[], %(probe_values)s::int[]) AS q(pdq, band, value)
    JOIN signals_pdqband pb ON pb.band = q.band AND pb.value = q.value
    JOIN signals_hashlistentry e ON e.id = pb.entry_id
    JOIN signals_hashlist h ON h.id = e.hash_list_id AND h.active
    WHERE bit_count(('x' || e.value)::bit(256) # ('x' || q.pdq)::bit(256)) <= h.pdq_threshold
  ) m
),
up AS (
  INSERT INTO signals_subjectsignals (subject_id, case_id, last_report_at, rate_fast, rate_slow, reports,
      weak_reports, near_duplicate_reports, co_report_hits, burst_ratio, recent_reporters, recent_simhashes,
      linked_sanctioned, hash_matches, updated_at)
  SELECT %(subject)s, b.case_id, %(now)s, b.rate_fast, b.rate_slow, b.reports + 1,
         b.weak_reports + (SELECT is_weak::int FROM weak),
         b.near_duplicate_reports + CASE WHEN %(simhash)s::bigint IS NOT NULL AND EXISTS (
             SELECT 1 FROM jsonb_array_elements_text(b.hashes) AS h(v)
             WHERE bit_count((h.v::bigint # %(simhash)s::bigint)::bit(64)) <= %(near_bits)s) THEN 1 ELSE 0 END,
         b.co_report_hits + CASE WHEN (SELECT is_weak FROM weak) AND EXISTS (SELECT 1 FROM pairs WHERE count >= 2)
                                 THEN 1 ELSE 0 END,
         GREATEST(b.burst_ratio, CASE WHEN b.rate_fast >= %(burst_min)s
                                      THEN b.rate_fast / GREATEST(1.0, b.rate_slow * %(fast)s / %(slow)s) ELSE 0 END),
         CASE WHEN %(token)s = '' OR jsonb_exists(b.ring, %(token)s) THEN b.ring
              WHEN jsonb_array_length(b.ring) >= %(ring)s THEN (b.ring - 0) || to_jsonb(%(token)s::text)
              ELSE b.ring || to_jsonb(%(token)s::text) END,
         CASE WHEN %(simhash)s::bigint IS NULL THEN b.hashes
              WHEN jsonb_array_length(b.hashes) >= %(simhash_ring)s THEN (b.hashes - 0) || to_jsonb(%(simhash)s::bigint)
              ELSE b.hashes || to_jsonb(%(simhash)s::bigint) END,
         COALESCE((SELECT found FROM linked), b.linked), COALESCE((SELECT found FROM matches), b.matched), %(now)s
  FROM b
  ON CONFLICT (subject_id) DO UPDATE SET
    case_id = EXCLUDED.case_id, last_report_at = EXCLUDED.last_report_at, rate_fast = EXCLUDED.rate_fast,
    rate_slow = EXCLUDED.rate_slow, reports = EXCLUDED.reports, weak_reports = EXCLUDED.weak_reports,
    near_duplicate_reports = EXCLUDED.near_duplicate_reports, co_report_hits = EXCLUDED.co_report_hits,
    burst_ratio = EXCLUDED.burst_ratio, recent_reporters = EXCLUDED.recent_reporters,
    recent_simhashes = EXCLUDED.recent_simhashes, linked_sanctioned = EXCLUDED.linked_sanctioned,
    hash_matches = EXCLUDED.hash_matches, updated_at = EXCLUDED.updated_at
  RETURNING reports, weak_reports, near_duplicate_reports, co_report_hits, burst_ratio, linked_sanctioned,
            jsonb_array_length(hash_matches) AS matched
)
SELECT up.*, (SELECT upheld FROM rep), (SELECT rejected FROM rep), (SELECT is_weak FROM weak),
       (SELECT count(*) FROM links)
FROM up
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


def statement_params(*, source, api_client_id, subject_id, author_id, item: ReportInput, now: datetime) -> dict:
    key = reporter_key(reporter_kind=item.reporter_kind, reporter_external_id=item.reporter_external_id,
                       api_client_id=api_client_id)
    alpha, beta = prior()
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
    return {
        "subject": subject_id, "source": source.pk, "kind": item.reporter_kind, "key": key,
        "token": f"{item.reporter_kind}:{key}" if key else "", "now": now,
        "expires": now + timedelta(days=settings.SIGNALS_RETENTION_DAYS),
        "alpha": alpha, "beta": beta, "low": LOW_REPUTATION,
        "fast": brigade.FAST_SECONDS, "slow": brigade.SLOW_SECONDS, "burst_min": brigade.BURST_MIN_REPORTS,
        "simhash": simhash(item.description), "near_bits": NEAR_DUPLICATE_BITS,
        "ring": RING, "simhash_ring": SIMHASH_RING,
        "link_subjects": link_subjects, "link_kinds": link_kinds, "link_digests": link_digests,
        "sha256s": sha256s, "probe_hashes": probe_hashes, "probe_bands": probe_bands, "probe_values": probe_values,
    }


def report_signals(*, source, api_client_id, subject_id, author_id, item: ReportInput, now: datetime) -> IntakeSignals | None:
    """Runs the statement for one report and judges it. Requires the intake
    transaction, with the subject (and author) rows locked."""
    if connection.vendor != "postgresql":
        return None
    params = statement_params(source=source, api_client_id=api_client_id, subject_id=subject_id,
                              author_id=author_id, item=item, now=now)
    connection.ensure_connection()
    # A server-side prepared statement on the same connection (and transaction) as Django's: planning this
    # statement costs more than running it, and it is the same text for every report.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(_STATEMENT, params, prepare=True)
        (reports, weak_reports, near, co_hits, burst, linked, matched, upheld, rejected, is_weak,
         _links) = cursor.fetchone()
    counters = brigade.Counters(reports=reports, weak_reports=weak_reports, near_duplicate_reports=near,
                                co_report_hits=co_hits, burst_ratio=burst)
    judged = brigade.verdict(counters)
    reputation = None if upheld is None else (upheld, rejected)
    factor = reputation_factor(*reputation) if reputation is not None and params["key"] else 1.0
    linked = (json.loads(linked) if isinstance(linked, str) else linked) or []  # Django reads jsonb as text
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
