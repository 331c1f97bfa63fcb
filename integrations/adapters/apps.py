from django.apps import AppConfig


class AdaptersConfig(AppConfig):
    name = "integrations.adapters"
    label = "adapters"
    verbose_name = "Platform adapters"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import registry

        registry.load()
