from django.apps import AppConfig


class MinimalDrfConfig(AppConfig):
    name = "bench.minimal_drf"
    label = "minimal_drf"
