from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from audit.evidence import register_external_anchor
        from reviews.closing import register_delivery_check

        from . import schema  # noqa: F401  (registers the OpenAPI authentication extension)
        from .webhooks.delivered import cases_with_undelivered_decisions

        # A decided case closes only once its decision reached every subscribed endpoint.
        register_delivery_check(cases_with_undelivered_decisions)
        # The console's per-case verification shows which checkpoints the witness acknowledged.
        from .witness import witness_acknowledged

        register_external_anchor("witness", witness_acknowledged)
