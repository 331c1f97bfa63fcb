from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "rules"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from reviews.intake import register_after_filing

        from .intake import rules_after_filing

        register_after_filing(rules_after_filing)
