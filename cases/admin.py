"""Admin for the rule book and queues. Saves go through the services so that
every change is validated and audited; cases and reports are read-only here
(they change only through the workflow)."""

from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from audit.context import Actor

from .models import Case, Policy, Queue, Report, RereviewRule, Source, Subject
from .services import policy_save, queue_save, rereview_rule_delete, rereview_rule_save


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "severity", "dsa_category", "active"]
    list_filter = ["active", "severity"]
    search_fields = ["code", "name"]

    def save_model(self, request, obj, form, change):
        policy_save(policy=obj, actor=Actor.user(request.user))

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: reports keep pointing at the policy


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "is_default", "restricted_to_groups"]
    filter_horizontal = ["policies", "restricted_to"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("restricted_to")

    @admin.display(description="restricted to")
    def restricted_to_groups(self, obj):
        return ", ".join(sorted(g.name for g in obj.restricted_to.all())) or "—"

    def save_model(self, request, obj, form, change):
        queue_save(queue=obj, actor=Actor.user(request.user))

    def save_related(self, request, form, formsets, change):
        queue_save(queue=form.instance, actor=Actor.user(request.user), policies=list(form.cleaned_data["policies"]),
                   restricted_to=list(form.cleaned_data["restricted_to"]))


@admin.register(RereviewRule)
class RereviewRuleAdmin(admin.ModelAdmin):
    """What a report about an already decided case does, per policy of the new report (README, "Re-review rules")."""

    list_display = ["__str__", "on_more_severe", "on_trusted_flagger", "on_content_change", "new_reporters",
                    "window_hours", "updated_at"]
    list_select_related = ["policy"]

    def save_model(self, request, obj, form, change):
        rereview_rule_save(rule=obj, actor=Actor.user(request.user))

    def delete_model(self, request, obj):
        rereview_rule_delete(rule=obj, actor=Actor.user(request.user))

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            rereview_rule_delete(rule=rule, actor=Actor.user(request.user))


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    list_display = ["id", "state", "priority", "queue", "report_count", "reporter_count", "opened_at"]
    list_filter = ["state", "queue"]
    list_select_related = ["queue"]
    show_full_result_count = False


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "case_id", "policy", "reporter_kind", "received_at"]
    list_filter = ["reporter_kind", "policy"]
    list_select_related = ["policy"]
    show_full_result_count = False


@admin.register(Subject)
class SubjectAdmin(ReadOnlyAdmin):
    list_display = ["kind", "external_id", "source", "updated_at"]
    search_fields = ["external_id"]
    list_select_related = ["source"]
    show_full_result_count = False


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
