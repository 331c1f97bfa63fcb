"""Indexes for the console's queue list (reviews.worklists.queue_cases):

- case_queue_opened_idx (queue, opened_at, id over open cases): "oldest/newest
  first". One more index entry per case intake.
- case_queue_at_risk_idx: "at risk or breached only". Partial, on exactly the
  filter's condition; a new case is never in it, so intake does not pay.
- report_policy_case_idx (policy, case) replaces the policy foreign key's own
  index (created first, so there is always one): the policy filter reads the
  distinct cases of a policy from it. Same number of indexes per report.
"""
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0004_subject_media_hash_index'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='report',
            index=models.Index(fields=['policy', 'case'], name='report_policy_case_idx'),
        ),
        migrations.AlterField(
            model_name='report',
            name='policy',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='reports',
                                    to='cases.policy'),
        ),
        migrations.AddIndex(
            model_name='case',
            index=models.Index(condition=models.Q(('closed_at__isnull', True)), fields=['queue', 'opened_at', 'id'],
                               name='case_queue_opened_idx'),
        ),
        migrations.AddIndex(
            model_name='case',
            index=models.Index(condition=models.Q(('closed_at__isnull', True), models.Q(
                ('at_risk_since__isnull', False), ('breach_count__gt', 0), _connector='OR')),
                fields=['queue', '-priority', 'opened_at', 'id'], name='case_queue_at_risk_idx'),
        ),
    ]
