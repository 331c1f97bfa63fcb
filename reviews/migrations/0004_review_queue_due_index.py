"""The console's queue list sorted "due soonest" reads the queue's active
reviews with a deadline in list order (queue, due_at, case_opened_at,
case_id) instead of sorting every case of the queue. One more index entry
per review opened (every intake routes one)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reviews', '0003_seed_decision_sequence'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='review',
            index=models.Index(condition=models.Q(('due_at__isnull', False), ('state__in', ['open', 'on_hold'])), fields=['queue', 'due_at', 'case_opened_at', 'case'], name='review_queue_due_idx'),
        ),
    ]
