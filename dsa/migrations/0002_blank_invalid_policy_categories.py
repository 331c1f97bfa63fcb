"""Policy.dsa_category is validated against the DSA vocabulary from now on.
Values stored before that are not kept silently: each invalid one is
blanked and reported (a blank category holds that policy's statements until
an admin chooses one)."""

import sys

from django.db import migrations

from dsa import vocabulary


def blank_invalid_categories(apps, schema_editor):
    Policy = apps.get_model("cases", "Policy")
    invalid = [(p.pk, p.code, p.dsa_category) for p in Policy.objects.exclude(dsa_category="")
               if p.dsa_category not in vocabulary.CATEGORY]
    for pk, code, value in invalid:
        Policy.objects.filter(pk=pk).update(dsa_category="")
        sys.stdout.write(f"\n  policy {code!r}: dsa_category {value!r} is not a DSA category; blanked, choose one in "
                         "the admin")


class Migration(migrations.Migration):
    dependencies = [
        ("dsa", "0001_dsa_statements_and_notices"),
        ("cases", "0011_case_lifecycle_rereview_rules"),
    ]

    operations = [migrations.RunPython(blank_invalid_categories, migrations.RunPython.noop)]
