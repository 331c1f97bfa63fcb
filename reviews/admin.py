"""Admin for configuring the review process: outcomes, workflows and their
versions and stages, routing rules; and read-only lists of decisions,
reviews and appeals for leads and auditors.

Saves go through the services (reviews.config_services, reviews.workflows)
so that every change is validated and audited. A published or superseded
workflow version never changes (cases run on it): editing means creating a
new draft from it, editing the draft, and publishing the draft."""

import copy
import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from audit.context import Actor

from .admin_fields import HoursMinutesField, hours_minutes
from .errors import WorkflowInvalid
from .models import (
    DECIDE,
    RAISE_PRIORITY,
    Appeal,
    BusinessCalendar,
    Decision,
    ModeratorIdentity,
    Outcome,
    Review,
    RoutingRule,
    SlaPolicy,
    Stage,
    VersionState,
    Workflow,
    WorkflowVersion,
)
from .services.configuration import (
    calendar_save,
    moderator_identity_delete,
    moderator_identity_save,
    outcome_problems,
    outcome_save,
    routing_rule_save,
    sla_policy_save,
    workflow_draft_lock,
    workflow_draft_save,
)
from .workflows import version_problems, version_warnings, workflow_draft_from, workflow_publish


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _change_url(obj):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


# ---- outcomes ------------------------------------------------------------------------

class OutcomeForm(forms.ModelForm):
    class Meta:
        model = Outcome
        fields = ["code", "name", "name_translations", "description", "is_violation", "requires_approval", "time_limited",
                  "approval_over_days", "active", "position"]

    def clean(self):
        cleaned = super().clean()
        probe = copy.copy(self.instance)  # the instance gets the cleaned values only after clean()
        probe.requires_approval = cleaned.get("requires_approval", False)
        problems = outcome_problems(probe) if not self.errors else []
        if problems:
            raise ValidationError(problems)
        return cleaned


@admin.register(Outcome)
class OutcomeAdmin(admin.ModelAdmin):
    form = OutcomeForm
    list_display = ["code", "name", "is_violation", "requires_approval", "time_limited", "active", "position"]
    list_editable = ["active", "position"]
    list_filter = ["active", "is_violation", "requires_approval"]
    search_fields = ["code", "name"]

    def get_readonly_fields(self, request, obj=None):
        # votes, decisions and audit events name outcomes by code
        return ["code"] if obj else []

    def save_model(self, request, obj, form, change):
        outcome_save(outcome=obj, actor=Actor.user(request.user))

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: votes and decisions keep pointing at the outcome


# ---- workflows -----------------------------------------------------------------------

class VersionInline(admin.TabularInline):
    model = WorkflowVersion
    fields = ["number", "state", "published_at", "created_at"]
    readonly_fields = fields
    show_change_link = True
    extra = 0
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "published"]
    list_select_related = ["published_version"]
    search_fields = ["slug", "name"]
    inlines = [VersionInline]

    def get_fields(self, request, obj=None):
        fields = ["slug", "name", "description"]
        return fields + ["published_version", "add_draft"] if obj else fields

    def get_readonly_fields(self, request, obj=None):
        # audit events name workflows by slug
        return ["slug", "published_version", "add_draft"] if obj else []

    @admin.display(description="published version", ordering="published_version__number")
    def published(self, obj):
        version = obj.published_version
        return f"v{version.number}" if version else "—"

    @admin.display(description="new version")
    def add_draft(self, obj):
        url = reverse("admin:reviews_workflowversion_add") + f"?workflow={obj.pk}"
        return format_html(
            'To change the stages, open a version below and create a new draft from it. '
            'For a version from scratch: <a href="{}">add an empty draft</a>.', url)

    def has_delete_permission(self, request, obj=None):
        return False


SLUG = re.compile(r"[-a-zA-Z0-9_]{1,50}")


def posted_stage_keys(data, prefix: str) -> list[str]:
    """The well-formed stage keys posted in the stage formset `prefix` (at most 1,000 forms are read)."""
    try:
        total = min(max(int(data.get(f"{prefix}-TOTAL_FORMS", 0)), 0), 1000)
    except (TypeError, ValueError):
        return []
    keys = (str(data.get(f"{prefix}-{i}-key", "")).strip() for i in range(total))
    return [k for k in keys if SLUG.fullmatch(k)]


class StageInlineFormSet(forms.BaseInlineFormSet):
    """The stages of a version. Their targets (on consensus / split / timeout) are chosen from the version's
    stages — the saved ones and any added in the same submission — instead of typed as keys."""

    def _stage_keys(self) -> list[str]:
        if not hasattr(self, "_keys"):
            keys = list(self.instance.stages.order_by("position", "key").values_list("key", flat=True)) \
                if self.instance.pk else []
            if self.is_bound:
                keys += [k for k in posted_stage_keys(self.data, self.prefix) if k not in keys]
            self._keys = keys
        return self._keys

    def add_fields(self, form, index):
        super().add_fields(form, index)
        keys = [(k, k) for k in self._stage_keys()]
        specials = {
            "on_consensus": [(DECIDE, _("decide (record the decision)"))],
            "on_split": [("", _("— none —"))],
            "on_timeout": [("", _("record the breach only")), (RAISE_PRIORITY, _("raise the priority"))],
        }
        for name, first in specials.items():
            if name not in form.fields:
                continue
            current = form.initial.get(name) or getattr(form.instance, name, "")
            choices = [*first, *keys]
            if current and current not in dict(choices):  # keep a target that no longer exists visible
                choices.append((current, current))
            field = form.fields[name]
            form.fields[name] = forms.ChoiceField(label=field.label, help_text=field.help_text,
                                                  required=field.required, choices=choices)

    def clean(self):
        super().clean()
        version = self.instance
        if version.pk and self.has_changed():
            state = WorkflowVersion.objects.filter(pk=version.pk).values_list("state", flat=True).first()
            if state != VersionState.DRAFT:
                raise ValidationError(f"this version is {state}; its stages cannot change (create a new draft from it)")


class StageForm(forms.ModelForm):
    sla_seconds = HoursMinutesField(label=_("SLA"), help_text=_("open time allowed (hours and minutes)"))

    class Meta:
        model = Stage
        fields = ["sla_seconds"]  # the admin's `fields` add the rest


class StageInline(admin.StackedInline):
    model = Stage
    form = StageForm
    formset = StageInlineFormSet
    extra = 0
    fields = [
        ("key", "name", "kind", "position"),
        "name_translations",
        ("group", "seats", "quorum", "blind", "exclude_earlier_reviewers"),
        "allowed_outcomes",
        ("sla_seconds", "on_consensus", "on_split", "on_timeout", "next_tier"),
    ]
    filter_horizontal = ["allowed_outcomes"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("group").prefetch_related("allowed_outcomes")

    @staticmethod
    def _is_draft(obj):
        return obj is None or obj.state == VersionState.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._is_draft(obj) and super().has_delete_permission(request, obj)


class WorkflowVersionForm(forms.ModelForm):
    class Meta:
        model = WorkflowVersion
        fields = ["workflow", "first_stage_key", "approval_stage_key", "escalation_stage_key", "appeal_stage_key",
                  "final_appeal_stage_key"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A saved version's stage references are chosen from its stages (a new, empty draft has none yet).
        if not self.instance.pk:
            return
        keys = [(k, k) for k in self.instance.stages.order_by("position", "key").values_list("key", flat=True)]
        if self.is_bound:  # stages added in the same submission
            keys += [(k, k) for k in posted_stage_keys(self.data, "stages") if (k, k) not in keys]
        for name in ("first_stage_key", "approval_stage_key", "escalation_stage_key", "appeal_stage_key"):
            if name not in self.fields:
                continue
            field = self.fields[name]
            current = self.initial.get(name) or ""
            choices = ([] if field.required else [("", _("— none —"))]) + keys
            if current and current not in dict(choices):
                choices.append((current, current))
            self.fields[name] = forms.ChoiceField(label=field.label, help_text=field.help_text,
                                                  required=field.required, choices=choices)

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk:
            state = WorkflowVersion.objects.filter(pk=self.instance.pk).values_list("state", flat=True).first()
            if state != VersionState.DRAFT:
                raise ValidationError(f"this version is {state} and cannot change; create a new draft from it, "
                                      "edit the draft and publish it")
        return cleaned


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(admin.ModelAdmin):
    form = WorkflowVersionForm
    list_display = ["workflow", "number", "state", "created_at", "published_at"]
    list_display_links = ["workflow", "number"]
    list_filter = ["state", "workflow"]
    list_select_related = ["workflow"]
    ordering = ["workflow__slug", "-number"]
    inlines = [StageInline]
    actions = ["publish", "new_draft"]
    show_full_result_count = False

    # -- pages

    def get_fields(self, request, obj=None):
        keys = ["first_stage_key", "approval_stage_key", "escalation_stage_key", "appeal_stage_key",
                "final_appeal_stage_key"]
        if obj is None:
            return ["workflow", *keys]
        if obj.state == VersionState.DRAFT:
            return ["workflow", "number", "state", "problems", *keys, "created_at"]
        return ["editing", "workflow", "number", "state", *keys, "created_at", "published_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["workflow", "number", "state", "problems", "editing", "created_at", "published_at"]

    @admin.display(description="problems blocking publication")
    def problems(self, obj):
        """The validation result of the draft, with the button that publishes it when nothing blocks it."""
        problems = version_problems(obj)
        if not problems:
            warnings = format_html_join("", '<li class="warning">{}</li>', ((w,) for w in version_warnings(obj)))
            return format_html(
                '<p>None: this draft can be published.</p>{}'
                '<button type="submit" class="button default" formaction="{}" formmethod="post">'
                'Publish this draft</button> <span class="help">New cases get it; running cases keep their '
                'version. Unsaved edits on this page are not published: save first.</span>',
                format_html('<ul>{}</ul>', warnings) if warnings else "",
                reverse("admin:reviews_workflowversion_publish", args=[obj.pk]))
        return format_html('<ul>{}</ul><p>Fix these, save, and the publish button appears '
                           'here.</p>',
                           format_html_join("", '<li class="errornote">{}</li>', ((p,) for p in problems)))

    @admin.display(description="editing")
    def editing(self, obj):
        return format_html(
            '<p><strong>This version is {} and cannot be edited</strong>: cases that started on it keep running on it. '
            'Edits happen in a new draft: create one from this version, change it, then publish it.</p>'
            '<button type="submit" class="button default" formaction="{}" formmethod="post">'
            'New draft from this version</button>',
            obj.get_state_display().lower(), reverse("admin:reviews_workflowversion_new_draft", args=[obj.pk]))

    # -- permissions: published and superseded versions are view-only everywhere

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.state != VersionState.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # a draft creation is audited; leave abandoned drafts unpublished

    # -- saving

    def save_model(self, request, obj, form, change):
        workflow_draft_save(version=obj, actor=Actor.user(request.user))

    def save_formset(self, request, form, formset, change):
        # changeform_view runs in one transaction: the lock lasts until the stages are saved
        workflow_draft_lock(version=form.instance)
        formset.save()

    # -- actions

    @admin.action(description="Publish the selected drafts", permissions=["change"])
    def publish(self, request, queryset):
        versions = list(queryset.select_related("workflow").order_by("workflow__slug", "number"))
        slugs = [v.workflow.slug for v in versions]
        twice = sorted({s for s in slugs if slugs.count(s) > 1})
        if twice:
            self.message_user(request, f"Select one version per workflow (several selected for: {', '.join(twice)}). "
                                       "Nothing was published.", messages.ERROR)
            return None
        actor = Actor.user(request.user)
        failures = []
        with transaction.atomic():
            for version in versions:
                try:
                    workflow_publish(version=version, actor=actor)
                except WorkflowInvalid as exc:
                    failures.append((version, exc.problems))
            if failures:
                transaction.set_rollback(True)
        if failures:
            for version, problems in failures:
                for problem in problems:
                    self.message_user(request, f"{version.workflow.slug} v{version.number}: {problem}", messages.ERROR)
            self.message_user(request, "Nothing was published.", messages.ERROR)
            return None
        for version in versions:
            self.message_user(request, f"Published {version.workflow.slug} v{version.number}; new cases get it.",
                              messages.SUCCESS)
            for warning in version_warnings(version):
                self.message_user(request, f"{version.workflow.slug} v{version.number}: {warning}", messages.WARNING)
        return None

    @admin.action(description="New draft from this version", permissions=["add"])
    def new_draft(self, request, queryset):
        actor = Actor.user(request.user)
        drafts = [workflow_draft_from(version=v, actor=actor) for v in queryset.select_related("workflow")]
        for draft in drafts:
            self.message_user(request, format_html('Created draft <a href="{}">{} v{}</a>.', _change_url(draft),
                                                   draft.workflow.slug, draft.number), messages.SUCCESS)
        if len(drafts) == 1:
            return HttpResponseRedirect(_change_url(drafts[0]))
        return None

    def get_urls(self):
        return [
            path("<path:object_id>/new-draft/", self.admin_site.admin_view(self.new_draft_view),
                 name="reviews_workflowversion_new_draft"),
            path("<path:object_id>/publish/", self.admin_site.admin_view(self.publish_view),
                 name="reviews_workflowversion_publish"),
            *super().get_urls(),
        ]

    def publish_view(self, request, object_id):
        """The draft page's publish button: publishes this one draft (workflow_publish validates it again, under
        lock) and shows the validation result: each problem, or the warnings of the published version."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        version = get_object_or_404(WorkflowVersion.objects.select_related("workflow"), pk=object_id)
        if not super().has_change_permission(request):  # the model permission; workflow_publish checks the state
            raise PermissionDenied
        try:
            workflow_publish(version=version, actor=Actor.user(request.user))
        except WorkflowInvalid as exc:
            for problem in exc.problems:
                self.message_user(request, f"{version.workflow.slug} v{version.number}: {problem}", messages.ERROR)
            self.message_user(request, "Nothing was published.", messages.ERROR)
            return HttpResponseRedirect(_change_url(version))
        self.message_user(request, f"Published {version.workflow.slug} v{version.number}; new cases get it.",
                          messages.SUCCESS)
        for warning in version_warnings(version):
            self.message_user(request, f"{version.workflow.slug} v{version.number}: {warning}", messages.WARNING)
        return HttpResponseRedirect(_change_url(version))

    def new_draft_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        version = get_object_or_404(WorkflowVersion, pk=object_id)
        draft = workflow_draft_from(version=version, actor=Actor.user(request.user))
        self.message_user(request, f"Created draft v{draft.number} from v{version.number}: edit it, then publish it.",
                          messages.SUCCESS)
        return HttpResponseRedirect(_change_url(draft))


# ---- routing -------------------------------------------------------------------------

@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["position", "workflow", "policy", "queue", "jurisdiction", "min_priority", "signal", "active"]
    list_display_links = ["position", "workflow"]
    list_filter = ["active", "workflow"]
    list_select_related = ["workflow", "policy", "queue"]
    ordering = ["position", "id"]
    fields = ["position", "workflow", "policy", "queue", "jurisdiction", "min_priority", "signal", "active"]

    def save_model(self, request, obj, form, change):
        routing_rule_save(rule=obj, actor=Actor.user(request.user))
        if obj.active and obj.workflow.published_version_id is None:
            self.message_user(request, f"Workflow {obj.workflow.slug} has no published version: this rule matches "
                                       "nothing until one is published.", messages.WARNING)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: the change is audited


@admin.register(ModeratorIdentity)
class ModeratorIdentityAdmin(admin.ModelAdmin):
    """A moderator's own accounts on source platforms: they are never seated
    on cases about them or reported by them. Bulk: the
    import_moderator_identities command (CSV). Every change is audited."""

    list_display = ["user", "source", "external_id"]
    list_filter = ["source"]
    list_select_related = ["user", "source"]
    search_fields = ["user__username", "external_id"]
    autocomplete_fields = ["user"]
    fields = ["user", "source", "external_id"]

    def save_model(self, request, obj, form, change):
        moderator_identity_save(identity=obj, actor=Actor.user(request.user))

    def delete_model(self, request, obj):
        moderator_identity_delete(identity=obj, actor=Actor.user(request.user))

    def delete_queryset(self, request, queryset):
        for identity in queryset.select_related("user", "source"):
            moderator_identity_delete(identity=identity, actor=Actor.user(request.user))


# ---- read-only history -----------------------------------------------------------------

@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "case_id", "outcome", "policy", "kind", "is_current", "automated_decision", "decided_at"]
    list_filter = ["kind", "is_current", "automated_decision", "outcome", "policy"]
    list_select_related = ["outcome", "policy"]
    search_fields = ["=id", "=case__id"]
    date_hierarchy = "decided_at"
    ordering = ["-sequence"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["id", "case_id", "workflow_stage", "rule", "state", "queue", "group", "priority", "opened_at",
                    "due_at", "closed_at"]
    list_filter = ["state", "stage__kind", "queue", "group"]
    list_select_related = ["stage__version__workflow", "queue", "group"]
    search_fields = ["=id", "=case__id"]
    date_hierarchy = "opened_at"
    ordering = ["-opened_at"]

    @admin.display(description="workflow / stage", ordering="stage__key")
    def workflow_stage(self, obj):
        return f"{obj.stage.version.workflow.slug} v{obj.stage.version.number} / {obj.stage.key}"

    @admin.display(description="M of N")
    def rule(self, obj):
        return obj.stage.rule


@admin.register(Appeal)
class AppealAdmin(ReadOnlyAdmin):
    list_display = ["id", "case_id", "appellant_kind", "state", "result", "appealed_outcome", "opened_at", "decided_at"]
    list_filter = ["state", "result", "appellant_kind"]
    list_select_related = ["decision__outcome"]
    search_fields = ["=id", "=case__id"]
    date_hierarchy = "opened_at"
    ordering = ["-opened_at"]

    @admin.display(description="appealed outcome", ordering="decision__outcome__code")
    def appealed_outcome(self, obj):
        return obj.decision.outcome.code



class BusinessCalendarForm(forms.ModelForm):
    class Meta:
        model = BusinessCalendar
        fields = ["name", "timezone", "weekly_hours", "holidays"]

    def clean(self):
        cleaned = super().clean()
        probe = BusinessCalendar(timezone=cleaned.get("timezone") or "", weekly_hours=cleaned.get("weekly_hours") or {},
                                 holidays=cleaned.get("holidays") or [])
        try:
            probe.as_clock()
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        return cleaned


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    form = BusinessCalendarForm
    list_display = ["name", "timezone"]

    def save_model(self, request, obj, form, change):
        calendar_save(calendar=obj, actor=Actor.user(request.user))

    def has_delete_permission(self, request, obj=None):
        return False


class SlaPolicyForm(forms.ModelForm):
    duration_seconds = HoursMinutesField(label=_("duration"), required=False,
                                         help_text=_("replaces the stage's SLA (hours and minutes); empty: keep it"))

    class Meta:
        model = SlaPolicy
        fields = ["name", "position", "active", "policy", "stage_kind", "min_priority", "max_priority",
                  "reporter_kind", "duration_seconds", "factor", "calendar", "warn_fraction"]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    form = SlaPolicyForm
    list_display = ["position", "name", "policy", "stage_kind", "min_priority", "max_priority", "reporter_kind",
                    "duration", "factor", "calendar", "warn_fraction", "active"]
    list_display_links = ["name"]
    list_select_related = ["policy", "calendar"]
    ordering = ["position", "id"]

    @admin.display(description=_("duration"), ordering="duration_seconds")
    def duration(self, obj):
        return hours_minutes(obj.duration_seconds)

    def save_model(self, request, obj, form, change):
        sla_policy_save(policy=obj, actor=Actor.user(request.user))

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: the change stays on the record
