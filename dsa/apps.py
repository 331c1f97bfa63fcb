from django.apps import AppConfig


class DsaConfig(AppConfig):
    name = "dsa"
    verbose_name = "DSA"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from cases.extensions import register_policy_check
        from reviews.hooks import register_decision_listener, register_public_reasons, register_publication_hold

        from .checks import policy_category_problems
        from .services import decision_publication_held, public_reason_text, statement_for_decision

        register_policy_check(policy_category_problems)
        register_public_reasons(public_reason_text)
        register_decision_listener(statement_for_decision)
        register_publication_hold(decision_publication_held)
