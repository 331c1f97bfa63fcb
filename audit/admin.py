from django.contrib import admin

from .models import AuditCheckpoint, AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "actor_name", "target_type", "target_id", "stream", "seq"]
    list_filter = ["action", "actor_type"]
    search_fields = ["stream", "target_id", "actor_name", "request_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["number", "created_at", "hash"]
