from django.apps import AppConfig


class TrustConfig(AppConfig):
    name = "trust"
    verbose_name = "Trust and safety (DSA Art. 22, 23)"

    def ready(self):
        # reviews cannot import trust (trust sits above it): it offers a hook run inside the deciding transaction.
        from reviews.hooks import register_decision_listener

        from .decisions import on_decision_recorded

        register_decision_listener(on_decision_recorded)
