import os

from celery import Celery

from .logfilters import install as install_quiet_ticks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("quorum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Routine ticks (webhook dispatch, SLA sweeps) do not flood the worker's and beat's logs.
install_quiet_ticks()
