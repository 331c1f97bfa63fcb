"""Verbose names and translatable help texts for the configuration models the admin edits (German admin)."""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0008_name_translations'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='policy',
            options={'ordering': ['code'], 'verbose_name': 'policy', 'verbose_name_plural': 'policies'},
        ),
        migrations.AlterField(
            model_name='policy',
            name='active',
            field=models.BooleanField(default=True, verbose_name='active'),
        ),
        migrations.AlterField(
            model_name='policy',
            name='code',
            field=models.SlugField(unique=True, verbose_name='code'),
        ),
        migrations.AlterField(
            model_name='policy',
            name='description',
            field=models.TextField(blank=True, verbose_name='description'),
        ),
        migrations.AlterField(
            model_name='policy',
            name='dsa_category',
            field=models.CharField(blank=True, max_length=100, verbose_name='dsa category'),
        ),
        migrations.AlterField(
            model_name='policy',
            name='name',
            field=models.CharField(max_length=200, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='policy',
            name='severity',
            field=models.PositiveSmallIntegerField(validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(5)], verbose_name='severity'),
        ),
        migrations.AlterField(
            model_name='queue',
            name='description',
            field=models.TextField(blank=True, verbose_name='description'),
        ),
        migrations.AlterField(
            model_name='queue',
            name='is_default',
            field=models.BooleanField(default=False, verbose_name='is default'),
        ),
        migrations.AlterField(
            model_name='queue',
            name='lease_seconds',
            field=models.PositiveIntegerField(blank=True, help_text='how long a claimed seat is held without activity; empty: REVIEW_LEASE_SECONDS', null=True, verbose_name='lease seconds'),
        ),
        migrations.AlterField(
            model_name='queue',
            name='name',
            field=models.CharField(max_length=200, verbose_name='name'),
        ),
        migrations.AlterField(
            model_name='queue',
            name='policies',
            field=models.ManyToManyField(blank=True, related_name='queues', to='cases.policy', verbose_name='policies'),
        ),
        migrations.AlterField(
            model_name='queue',
            name='slug',
            field=models.SlugField(unique=True, verbose_name='slug'),
        ),
    ]
