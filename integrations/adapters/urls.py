from django.urls import path

from . import registry
from .views import view_for

urlpatterns = [
    path(f"{adapter.platform}/<str:client>", view_for(adapter).as_view(), name=f"api-adapter-{adapter.platform}")
    for adapter in registry.all_adapters()
]
