from django.db import migrations


def seed(apps, schema_editor):
    apps.get_model("reviews", "DecisionSequence").objects.get_or_create(pk=1, defaults={"value": 0})


class Migration(migrations.Migration):
    dependencies = [("reviews", "0002_businesscalendar_heartbeat_slapolicy_and_more")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
