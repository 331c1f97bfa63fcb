"""Loads the default policy book and the default queue. Reversible."""

from django.db import migrations


def forward(apps, schema_editor):
    from cases.policybook import DEFAULT_POLICIES

    Policy = apps.get_model("cases", "Policy")
    Queue = apps.get_model("cases", "Queue")
    for code, name, description, severity, category in DEFAULT_POLICIES:
        Policy.objects.get_or_create(
            code=code,
            defaults={"name": name, "description": description, "severity": severity, "dsa_category": category},
        )
    if not Queue.objects.filter(is_default=True).exists():
        Queue.objects.create(slug="general", name="General", description="Everything no other queue takes.",
                             is_default=True)


def backward(apps, schema_editor):
    from cases.policybook import DEFAULT_POLICIES

    apps.get_model("cases", "Queue").objects.filter(slug="general", cases__isnull=True).delete()
    apps.get_model("cases", "Policy").objects.filter(
        code__in=[p[0] for p in DEFAULT_POLICIES], reports__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
