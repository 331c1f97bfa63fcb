"""Per-report signal snapshots (ReportSignals) and the intake function that
runs the signals of a whole intake call in one statement: for each report in
order, the statement signals.intake ran per report until now (reputation read,
subject counters, co-report pairs, identifier links, linked sanctions, hash
matches), plus the snapshot row. A later change of the function is a new
migration with CREATE OR REPLACE."""

from django.db import migrations, models

FUNCTION = r"""
CREATE OR REPLACE FUNCTION signals_reports_batch(
    p_source uuid, p_now timestamptz, p_expires timestamptz,
    p_alpha float8, p_beta float8, p_low float8, p_fast float8, p_slow float8, p_burst_min float8,
    p_near_bits int, p_ring int, p_simhash_ring int,
    p_reports uuid[], p_subjects uuid[], p_kinds text[], p_keys text[], p_tokens text[], p_simhashes bigint[],
    p_link_bounds int[], p_link_subjects uuid[], p_link_kinds text[], p_link_digests text[],
    p_sha_bounds int[], p_sha256s text[],
    p_probe_bounds int[], p_probe_hashes text[], p_probe_bands int[], p_probe_values int[])
RETURNS TABLE (o_item int, o_reports int, o_weak int, o_near int, o_co int, o_burst float8, o_linked jsonb,
               o_matched int, o_upheld float8, o_rejected float8, o_is_weak bool)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  i int;
  v_subject uuid; v_report uuid; v_kind text; v_key text; v_token text; v_simhash bigint;
  v_link_subjects uuid[]; v_link_kinds text[]; v_link_digests text[]; v_sha256s text[];
  v_probe_hashes text[]; v_probe_bands int[]; v_probe_values int[];
BEGIN
  -- One report after the other, each seeing what the ones before it wrote: the same results as one
  -- statement per report, in one round trip.
  FOR i IN 1 .. coalesce(array_length(p_subjects, 1), 0) LOOP
    v_subject := p_subjects[i]; v_report := p_reports[i]; v_kind := p_kinds[i]; v_key := p_keys[i];
    v_token := p_tokens[i]; v_simhash := p_simhashes[i];
    v_link_subjects := coalesce(p_link_subjects[p_link_bounds[i] + 1 : p_link_bounds[i + 1]], '{}');
    v_link_kinds := coalesce(p_link_kinds[p_link_bounds[i] + 1 : p_link_bounds[i + 1]], '{}');
    v_link_digests := coalesce(p_link_digests[p_link_bounds[i] + 1 : p_link_bounds[i + 1]], '{}');
    v_sha256s := coalesce(p_sha256s[p_sha_bounds[i] + 1 : p_sha_bounds[i + 1]], '{}');
    v_probe_hashes := coalesce(p_probe_hashes[p_probe_bounds[i] + 1 : p_probe_bounds[i + 1]], '{}');
    v_probe_bands := coalesce(p_probe_bands[p_probe_bounds[i] + 1 : p_probe_bounds[i + 1]], '{}');
    v_probe_values := coalesce(p_probe_values[p_probe_bounds[i] + 1 : p_probe_bounds[i + 1]], '{}');

    WITH cur AS (SELECT (SELECT id FROM cases_case WHERE subject_id = v_subject AND closed_at IS NULL) AS id),
    rep AS (SELECT r.upheld, r.rejected FROM signals_reporterreputation r
            WHERE r.source_id = p_source AND r.reporter_kind = v_kind AND r.reporter_key = v_key),
    weak AS (SELECT v_kind <> 'automated' AND (NOT EXISTS (SELECT 1 FROM rep) OR EXISTS (
               SELECT 1 FROM rep WHERE (p_alpha + rep.upheld) / (p_alpha + p_beta + rep.upheld + rep.rejected) < p_low
                                    OR rep.upheld + rep.rejected < 1)) AS is_weak),
    base AS (
      SELECT cur.id AS case_id,
             (o.subject_id IS NULL OR (o.case_id IS NOT NULL AND o.case_id IS DISTINCT FROM cur.id)) AS fresh,
             COALESCE(o.rate_fast * exp(-LEAST(600, GREATEST(0, extract(epoch FROM p_now - o.last_report_at)) / p_fast)), 0)
               + 1 AS rate_fast,
             COALESCE(o.rate_slow * exp(-LEAST(600, GREATEST(0, extract(epoch FROM p_now - o.last_report_at)) / p_slow)), 0)
               + 1 AS rate_slow,
             o.reports, o.weak_reports, o.near_duplicate_reports, o.co_report_hits, o.burst_ratio,
             o.recent_reporters, o.recent_simhashes, o.linked_sanctioned, o.hash_matches
      FROM cur LEFT JOIN signals_subjectsignals o ON o.subject_id = v_subject
    ),
    b AS (
      SELECT base.case_id, base.fresh, base.rate_fast, base.rate_slow,
             CASE WHEN base.fresh THEN 0 ELSE base.reports END AS reports,
             CASE WHEN base.fresh THEN 0 ELSE base.weak_reports END AS weak_reports,
             CASE WHEN base.fresh THEN 0 ELSE base.near_duplicate_reports END AS near_duplicate_reports,
             CASE WHEN base.fresh THEN 0 ELSE base.co_report_hits END AS co_report_hits,
             CASE WHEN base.fresh THEN 0 ELSE base.burst_ratio END AS burst_ratio,
             CASE WHEN base.fresh THEN '[]'::jsonb ELSE base.recent_reporters END AS ring,
             CASE WHEN base.fresh THEN '[]'::jsonb ELSE base.recent_simhashes END AS hashes,
             CASE WHEN base.fresh THEN '[]'::jsonb ELSE base.linked_sanctioned END AS linked,
             CASE WHEN base.fresh THEN '[]'::jsonb ELSE base.hash_matches END AS matched
      FROM base
    ),
    pairs AS (
      INSERT INTO signals_coreportpair (source_id, reporter_a, reporter_b, count, last_at)
      SELECT p_source, LEAST(o.t, v_token), GREATEST(o.t, v_token), 1, p_now
      FROM b, jsonb_array_elements_text(b.ring) AS o(t)
      WHERE v_token <> '' AND NOT jsonb_exists(b.ring, v_token) AND o.t <> v_token
      ORDER BY 2, 3
      ON CONFLICT (source_id, reporter_a, reporter_b)
      DO UPDATE SET count = signals_coreportpair.count + 1, last_at = EXCLUDED.last_at
      RETURNING signals_coreportpair.count
    ),
    links AS (
      INSERT INTO signals_identifierlink (source_id, kind, digest, subject_id, expires_at)
      SELECT p_source, q.kind, q.digest, q.subject_id, p_expires
      FROM unnest(v_link_subjects, v_link_kinds, v_link_digests) AS q(subject_id, kind, digest)
      ORDER BY 2, 3, 4
      ON CONFLICT (source_id, kind, digest, subject_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
      RETURNING 1
    ),
    linked AS (
      SELECT jsonb_agg(DISTINCT jsonb_build_object('subject_id', l.subject_id, 'case_id', s.case_id,
                                                   'outcome', s.outcome, 'via', l.kind)) AS found
      FROM unnest(v_link_kinds, v_link_digests) AS q(kind, digest)
      JOIN signals_identifierlink l ON l.source_id = p_source AND l.kind = q.kind AND l.digest = q.digest
      JOIN signals_accountsanction s ON s.subject_id = l.subject_id
      WHERE l.expires_at > p_now AND NOT (l.subject_id = ANY(v_link_subjects))
    ),
    matches AS (
      SELECT jsonb_agg(DISTINCT jsonb_build_object('list', m.name, 'algorithm', m.algorithm, 'value', m.value,
                                                   'label', m.label, 'distance', m.distance)) AS found
      FROM (
        SELECT h.name, e.algorithm, e.value, e.label, 0 AS distance
        FROM signals_hashlistentry e JOIN signals_hashlist h ON h.id = e.hash_list_id AND h.active
        WHERE e.algorithm = 'sha256' AND e.value = ANY(v_sha256s)
        UNION
        SELECT h.name, e.algorithm, e.value, e.label,
               bit_count(('x' || e.value)::bit(256) # ('x' || q.pdq)::bit(256)) AS distance
        FROM unnest(v_probe_hashes, v_probe_bands, v_probe_values) AS q(pdq, band, value)
        JOIN signals_pdqband pb ON pb.band = q.band AND pb.value = q.value
        JOIN signals_hashlistentry e ON e.id = pb.entry_id
        JOIN signals_hashlist h ON h.id = e.hash_list_id AND h.active
        WHERE bit_count(('x' || e.value)::bit(256) # ('x' || q.pdq)::bit(256)) <= h.pdq_threshold
      ) m
    ),
    up AS (
      INSERT INTO signals_subjectsignals AS t (subject_id, case_id, last_report_at, rate_fast, rate_slow, reports,
          weak_reports, near_duplicate_reports, co_report_hits, burst_ratio, recent_reporters, recent_simhashes,
          linked_sanctioned, hash_matches, updated_at)
      SELECT v_subject, b.case_id, p_now, b.rate_fast, b.rate_slow, b.reports + 1,
             b.weak_reports + (SELECT weak.is_weak::int FROM weak),
             b.near_duplicate_reports + CASE WHEN v_simhash IS NOT NULL AND EXISTS (
                 SELECT 1 FROM jsonb_array_elements_text(b.hashes) AS h(v)
                 WHERE bit_count((h.v::bigint # v_simhash)::bit(64)) <= p_near_bits) THEN 1 ELSE 0 END,
             b.co_report_hits + CASE WHEN (SELECT weak.is_weak FROM weak) AND EXISTS (SELECT 1 FROM pairs WHERE pairs.count >= 2)
                                     THEN 1 ELSE 0 END,
             GREATEST(b.burst_ratio, CASE WHEN b.rate_fast >= p_burst_min
                                          THEN b.rate_fast / GREATEST(1.0, b.rate_slow * p_fast / p_slow) ELSE 0 END),
             CASE WHEN v_token = '' OR jsonb_exists(b.ring, v_token) THEN b.ring
                  WHEN jsonb_array_length(b.ring) >= p_ring THEN (b.ring - 0) || to_jsonb(v_token)
                  ELSE b.ring || to_jsonb(v_token) END,
             CASE WHEN v_simhash IS NULL THEN b.hashes
                  WHEN jsonb_array_length(b.hashes) >= p_simhash_ring THEN (b.hashes - 0) || to_jsonb(v_simhash)
                  ELSE b.hashes || to_jsonb(v_simhash) END,
             COALESCE((SELECT linked.found FROM linked), b.linked), COALESCE((SELECT matches.found FROM matches), b.matched),
             p_now
      FROM b
      ON CONFLICT (subject_id) DO UPDATE SET
        case_id = EXCLUDED.case_id, last_report_at = EXCLUDED.last_report_at, rate_fast = EXCLUDED.rate_fast,
        rate_slow = EXCLUDED.rate_slow, reports = EXCLUDED.reports, weak_reports = EXCLUDED.weak_reports,
        near_duplicate_reports = EXCLUDED.near_duplicate_reports, co_report_hits = EXCLUDED.co_report_hits,
        burst_ratio = EXCLUDED.burst_ratio, recent_reporters = EXCLUDED.recent_reporters,
        recent_simhashes = EXCLUDED.recent_simhashes, linked_sanctioned = EXCLUDED.linked_sanctioned,
        hash_matches = EXCLUDED.hash_matches, updated_at = EXCLUDED.updated_at
      RETURNING t.reports, t.weak_reports, t.near_duplicate_reports, t.co_report_hits, t.burst_ratio,
                t.linked_sanctioned, t.hash_matches
    ),
    snap AS (
      INSERT INTO signals_reportsignals (report_id, reports, weak_reports, near_duplicate_reports, co_report_hits,
          burst_ratio, upheld, rejected, linked_sanctioned, hash_matches, created_at)
      SELECT v_report, up.reports, up.weak_reports, up.near_duplicate_reports, up.co_report_hits, up.burst_ratio,
             (SELECT rep.upheld FROM rep WHERE v_key <> ''), (SELECT rep.rejected FROM rep WHERE v_key <> ''),
             up.linked_sanctioned, up.hash_matches, p_now
      FROM up WHERE v_report IS NOT NULL
      ON CONFLICT (report_id) DO NOTHING
      RETURNING 1
    )
    SELECT i, up.reports, up.weak_reports, up.near_duplicate_reports, up.co_report_hits, up.burst_ratio,
           up.linked_sanctioned, jsonb_array_length(up.hash_matches),
           (SELECT rep.upheld FROM rep), (SELECT rep.rejected FROM rep), (SELECT weak.is_weak FROM weak)
    INTO o_item, o_reports, o_weak, o_near, o_co, o_burst, o_linked, o_matched, o_upheld, o_rejected, o_is_weak
    FROM up;
    RETURN NEXT;
  END LOOP;
END
$fn$;
"""


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":  # other databases run without signals (signals.intake)
        schema_editor.execute(FUNCTION, None)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS signals_reports_batch", None)


class Migration(migrations.Migration):

    dependencies = [
        ('signals', '0001_signals_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='ReportSignals',
            fields=[
                ('report_id', models.UUIDField(primary_key=True, serialize=False)),
                ('reports', models.IntegerField()),
                ('weak_reports', models.IntegerField()),
                ('near_duplicate_reports', models.IntegerField()),
                ('co_report_hits', models.IntegerField()),
                ('burst_ratio', models.FloatField()),
                ('upheld', models.FloatField(null=True)),
                ('rejected', models.FloatField(null=True)),
                ('linked_sanctioned', models.JSONField(default=list)),
                ('hash_matches', models.JSONField(default=list)),
                ('created_at', models.DateTimeField()),
            ],
        ),
        migrations.RunPython(create_function, drop_function),
    ]
