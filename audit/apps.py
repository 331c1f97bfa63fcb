from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system check)

        # After `migrate` (run as the owner), grant DATABASE_APP_ROLE what it may do (audit/dbroles.py).
        post_migrate.connect(_grant, sender=self, dispatch_uid="audit.grant_app_privileges")


def _grant(sender, using="default", **kwargs):
    from .dbroles import grant_app_privileges

    grant_app_privileges(using=using)
