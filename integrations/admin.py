from django.contrib import admin, messages

from audit.context import Actor

from .models import ApiClient
from .services import api_client_revoke
from .webhooks import admin as _webhooks_admin  # noqa: F401  (registers the webhook admin)


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """Clients are created with `manage.py create_api_client` (the key is shown
    once there); here admins see them, change limits and revoke them."""

    list_display = ["name", "source", "scopes", "rate_per_second", "burst", "active", "created_at"]
    list_filter = ["active"]
    readonly_fields = ["name", "source", "key_prefix", "key_hash", "scopes", "active", "created_at", "revoked_at",
                       "rate_per_second", "burst"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected API clients")
    def revoke(self, request, queryset):
        for client in queryset:
            api_client_revoke(client_id=client.pk, actor=Actor.user(request.user))
        messages.success(request, f"revoked {queryset.count()} client(s)")
