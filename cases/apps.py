from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from audit.verify import register_completeness_check

        from .completeness import cases_have_streams

        register_completeness_check("cases", cases_have_streams)
