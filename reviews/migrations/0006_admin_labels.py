"""Verbose names and translatable help texts for the configuration models the admin edits (German admin)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('cases', '0009_admin_labels'),
        ('reviews', '0005_name_translations'),
    ]

    operations = [
        migrations.AlterField(
            model_name='outcome',
            name='active',
            field=models.BooleanField(default=True, verbose_name='active'),
        ),
        migrations.AlterField(
            model_name='outcome',
            name='code',
            field=models.SlugField(unique=True, verbose_name='code'),
        ),
        migrations.AlterField(
            model_name='outcome',
            name='description',
            field=models.TextField(blank=True, verbose_name='description'),
        ),
        migrations.AlterField(
            model_name='outcome',
            name='is_violation',
            field=models.BooleanField(default=True, help_text='false only for outcomes like no_violation', verbose_name='is violation'),
        ),
        migrations.AlterField(
            model_name='outcome',
            name='name',
            field=models.CharField(max_length=200, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='outcome',
            name='position',
            field=models.PositiveSmallIntegerField(default=0, verbose_name='position'),
        ),
        migrations.AlterField(
            model_name='outcome',
            name='requires_approval',
            field=models.BooleanField(default=False, verbose_name='requires approval'),
        ),
        migrations.AlterField(
            model_name='outcome',
            name='time_limited',
            field=models.BooleanField(default=False, help_text='a vote for it must carry a duration', verbose_name='time limited'),
        ),
        migrations.AlterField(
            model_name='slapolicy',
            name='active',
            field=models.BooleanField(default=True, verbose_name='active'),
        ),
        migrations.AlterField(
            model_name='slapolicy',
            name='calendar',
            field=models.ForeignKey(blank=True, help_text='empty: 24/7', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='reviews.businesscalendar', verbose_name='calendar'),
        ),
        migrations.AlterField(
            model_name='slapolicy',
            name='duration_seconds',
            field=models.PositiveIntegerField(blank=True, help_text="replaces the stage's SLA", null=True, verbose_name='duration seconds'),
        ),
        migrations.AlterField(
            model_name='slapolicy',
            name='factor',
            field=models.FloatField(blank=True, help_text='multiplies the SLA, e.g. 0.5 for half the time', null=True, verbose_name='factor'),
        ),
        migrations.AlterField(
            model_name='slapolicy',
            name='max_priority',
            field=models.IntegerField(blank=True, null=True, verbose_name='max priority'),
        ),
        migrations.AlterField(
            model_name='slapolicy',
            name='min_priority',
            field=models.IntegerField(blank=True, null=True, verbose_name='min priority'),
        ),
        migrations.AlterField(
            model_name='slapolicy',
            name='name',
            field=models.CharField(max_length=100, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='slapolicy',
            name='policy',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='cases.policy', verbose_name='policy'),
        ),
        migrations.AlterField(
            model_name='slapolicy',
            name='position',
            field=models.PositiveIntegerField(default=0, verbose_name='position'),
        ),
        migrations.AlterField(
            model_name='slapolicy',
            name='reporter_kind',
            field=models.CharField(blank=True, help_text='applies when the case has a report from this kind of reporter', max_length=20, verbose_name='reporter kind'),
        ),
        migrations.AlterField(
            model_name='slapolicy',
            name='stage_kind',
            field=models.CharField(blank=True, choices=[('review', 'Review'), ('approval', 'Approval (four eyes)'), ('escalation', 'Escalation'), ('appeal', 'Appeal')], max_length=16, verbose_name='stage kind'),
        ),
        migrations.AlterField(
            model_name='slapolicy',
            name='warn_fraction',
            field=models.FloatField(default=0.75, verbose_name='warn fraction'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='allowed_outcomes',
            field=models.ManyToManyField(blank=True, related_name='+', to='reviews.outcome', verbose_name='allowed outcomes'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='blind',
            field=models.BooleanField(default=True, verbose_name='blind'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='exclude_earlier_reviewers',
            field=models.BooleanField(default=False, verbose_name='exclude earlier reviewers'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='group',
            field=models.ForeignKey(help_text='who may review', on_delete=django.db.models.deletion.PROTECT, related_name='+', to='auth.group', verbose_name='group'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='key',
            field=models.SlugField(verbose_name='key'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='kind',
            field=models.CharField(choices=[('review', 'Review'), ('approval', 'Approval (four eyes)'), ('escalation', 'Escalation'), ('appeal', 'Appeal')], default='review', max_length=16, verbose_name='kind'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='name',
            field=models.CharField(max_length=200, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='on_consensus',
            field=models.SlugField(default='decide', verbose_name='on consensus'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='on_split',
            field=models.SlugField(blank=True, verbose_name='on split'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='on_timeout',
            field=models.SlugField(blank=True, help_text='a stage key, "raise_priority", or empty (record the breach only)', verbose_name='on timeout'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='position',
            field=models.PositiveSmallIntegerField(default=0, verbose_name='position'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='quorum',
            field=models.PositiveSmallIntegerField(default=1, help_text='M: matching votes needed', verbose_name='quorum'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='seats',
            field=models.PositiveSmallIntegerField(default=1, help_text='N: reviewers taking part', verbose_name='seats'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='sla_seconds',
            field=models.PositiveIntegerField(default=86400, verbose_name='sla seconds'),
        ),
        migrations.AlterField(
            model_name='stage',
            name='version',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='stages', to='reviews.workflowversion', verbose_name='version'),
        ),
    ]
