from django.urls import path

from . import views

urlpatterns = [
    path("healthz", views.healthz),
    path("api/v1/reports", views.report_create),
]
