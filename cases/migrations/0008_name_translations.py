"""Admin-maintained translations of policy and queue names; German names for the default policy book
and queue (only where no translation was set). Reversible."""

import cases.translations
from django.db import migrations, models


GERMAN_POLICIES = {
    "spam": "Spam",
    "harassment": "Belästigung und Mobbing",
    "hate": "Hassrede",
    "violence": "Gewalt und gewalttätiger Extremismus",
    "child_safety": "Kinderschutz",
    "self_harm": "Suizid und Selbstverletzung",
    "illegal_goods": "Illegale Waren und Dienstleistungen",
    "ip_infringement": "Verletzung geistigen Eigentums",
}
GERMAN_QUEUES = {"general": "Allgemein"}


def forward(apps, schema_editor):
    for model, names in (("Policy", GERMAN_POLICIES), ("Queue", GERMAN_QUEUES)):
        Model = apps.get_model("cases", model)
        key = "code" if model == "Policy" else "slug"
        for obj in Model.objects.filter(**{f"{key}__in": list(names)}):
            if not obj.name_translations:
                obj.name_translations = {"de": names[getattr(obj, key)]}
                obj.save(update_fields=["name_translations"])


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0007_queue_restricted_to_groups'),
    ]

    operations = [
        migrations.AddField(
            model_name='policy',
            name='name_translations',
            field=models.JSONField(blank=True, default=dict, help_text='Translations of the name per console language, as a JSON object, e.g. {"de": "Spam"}. A language without an entry shows the name.', validators=[cases.translations.validate_name_translations], verbose_name='name translations'),
        ),
        migrations.AddField(
            model_name='queue',
            name='name_translations',
            field=models.JSONField(blank=True, default=dict, help_text='Translations of the name per console language, as a JSON object, e.g. {"de": "Spam"}. A language without an entry shows the name.', validators=[cases.translations.validate_name_translations], verbose_name='name translations'),
        ),
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
