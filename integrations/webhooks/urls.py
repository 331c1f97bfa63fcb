from django.urls import path

from ..api import webhooks as views

urlpatterns = [
    path("webhooks", views.WebhookListView.as_view(), name="api-webhooks"),
    path("webhooks/<str:endpoint_id>", views.WebhookDetailView.as_view(), name="api-webhook-detail"),
    path("webhooks/<str:endpoint_id>/rotate-secret", views.WebhookRotateSecretView.as_view(), name="api-webhook-rotate"),
    path("webhooks/<str:endpoint_id>/deliveries", views.WebhookDeliveryListView.as_view(), name="api-webhook-deliveries"),
    path("webhooks/<str:endpoint_id>/deliveries/<str:delivery_id>/redeliver", views.WebhookRedeliverView.as_view(),
         name="api-webhook-redeliver"),
    path("webhooks/<str:endpoint_id>/redeliver-dead", views.WebhookRedeliverDeadView.as_view(),
         name="api-webhook-redeliver-dead"),
]
