from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from audit.verify import register_completeness_check

        from .completeness import decisions_have_events

        register_completeness_check("decisions", decisions_have_events)
