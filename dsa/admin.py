"""Admin for the DSA mappings and public reasons; saves go through
dsa.services (validated, audited). Statements are read-only here: leads
correct them in the console."""

from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from audit.context import Actor

from .models import Notice, NoticeTemplate, OutcomeMapping, PolicyMapping, PublicReason, Statement
from .services import dsa_config_delete, dsa_config_save


class _AuditedAdmin(admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        dsa_config_save(obj=obj, actor=Actor.user(request.user))

    def delete_model(self, request, obj):
        dsa_config_delete(obj=obj, actor=Actor.user(request.user))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            dsa_config_delete(obj=obj, actor=Actor.user(request.user))


@admin.register(OutcomeMapping)
class OutcomeMappingAdmin(_AuditedAdmin):
    list_display = ["outcome", "decision_visibility", "decision_account", "decision_provision", "decision_monetary"]
    list_select_related = ["outcome"]


@admin.register(PolicyMapping)
class PolicyMappingAdmin(_AuditedAdmin):
    list_display = ["policy", "decision_ground", "territorial_scope"]
    list_select_related = ["policy"]


@admin.register(PublicReason)
class PublicReasonAdmin(_AuditedAdmin):
    list_display = ["outcome", "policy", "text"]
    list_select_related = ["outcome", "policy"]


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    list_display = ["puid", "state", "submission_state", "created_at", "published_at", "submitted_at"]
    list_filter = ["state", "submission_state"]


@admin.register(NoticeTemplate)
class NoticeTemplateAdmin(_AuditedAdmin):
    list_display = ["kind", "language", "subject"]


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "kind", "recipient", "language", "created_at"]
    list_filter = ["kind", "language"]
