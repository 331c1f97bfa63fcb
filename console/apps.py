from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Moderator console"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .preferences import remember_saved_time_zone

        # Presentation only (no domain write): the saved zone goes into the session at sign-in,
        # so that pages read no extra row for it.
        user_logged_in.connect(remember_saved_time_zone, dispatch_uid="console-time-zone")
