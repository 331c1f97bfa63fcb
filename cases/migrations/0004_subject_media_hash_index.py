"""An index for "other cases with the same media": the console's case page
looks for subjects whose media list contains {"sha256": <digest>}. GIN with
jsonb_path_ops answers @> containment; PostgreSQL only (SQLite, used by
`make run`, has no GIN and scans its few demo rows)."""
from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS subject_latest_media_gin ON cases_subject "
            "USING gin (latest_media jsonb_path_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS subject_latest_media_gin")


class Migration(migrations.Migration):
    dependencies = [("cases", "0003_case_at_risk_since_case_breach_count_and_more")]
    operations = [migrations.RunPython(create, drop)]
