"""Admin-maintained translations of outcome and stage names; German names for the default outcomes
and the default workflows' stages (only where no translation was set). Reversible."""

import cases.translations
from django.db import migrations, models


GERMAN_OUTCOMES = {
    "no_violation": "Kein Verstoß",
    "label": "Kennzeichnen",
    "restrict_visibility": "Sichtbarkeit einschränken",
    "remove_content": "Inhalt entfernen",
    "suspend_account": "Konto sperren (befristet)",
    "ban_account": "Konto dauerhaft sperren",
    "refer_to_law_enforcement": "An Strafverfolgung übergeben",
}
# The default workflows' stage names (reviews.workflows.install_default_workflows).
GERMAN_STAGES = {
    "Review": "Prüfung",
    "Senior review": "Senior-Prüfung",
    "Approval (four eyes)": "Freigabe (Vier-Augen-Prinzip)",
    "Lead decision": "Entscheidung der Leitung",
    "Appeal review": "Prüfung des Einspruchs",
    "Senior appeal review": "Senior-Prüfung des Einspruchs",
}


def forward(apps, schema_editor):
    Outcome = apps.get_model("reviews", "Outcome")
    for outcome in Outcome.objects.filter(code__in=list(GERMAN_OUTCOMES)):
        if not outcome.name_translations:
            outcome.name_translations = {"de": GERMAN_OUTCOMES[outcome.code]}
            outcome.save(update_fields=["name_translations"])
    Stage = apps.get_model("reviews", "Stage")
    for stage in Stage.objects.filter(name__in=list(GERMAN_STAGES)):
        if not stage.name_translations:
            stage.name_translations = {"de": GERMAN_STAGES[stage.name]}
            stage.save(update_fields=["name_translations"])


class Migration(migrations.Migration):

    dependencies = [
        ('reviews', '0004_review_queue_due_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='outcome',
            name='name_translations',
            field=models.JSONField(blank=True, default=dict, help_text='Translations of the name per console language, as a JSON object, e.g. {"de": "Spam"}. A language without an entry shows the name.', validators=[cases.translations.validate_name_translations], verbose_name='name translations'),
        ),
        migrations.AddField(
            model_name='stage',
            name='name_translations',
            field=models.JSONField(blank=True, default=dict, help_text='Translations of the name per console language, as a JSON object, e.g. {"de": "Spam"}. A language without an entry shows the name.', validators=[cases.translations.validate_name_translations], verbose_name='name translations'),
        ),
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
