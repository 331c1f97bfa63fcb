from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from audit.context import Actor

from . import registry
from .models import AdapterConfig, PolicyMapping
from .services import (
    AdapterConfigError,
    adapter_config_create,
    adapter_config_update,
    adapter_mappings_set,
    check_secret,
)


class AdapterConfigForm(forms.ModelForm):
    platform = forms.ChoiceField(choices=registry.platform_choices)
    secret = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False),
        label="Webhook secret",
        help_text="the signing secret the platform shows for this webhook (Mastodon: Administration → Webhooks → "
                  "the webhook → Secret). Stored, never displayed again; leave empty to keep the current one.",
    )

    class Meta:
        model = AdapterConfig
        fields = ["api_client", "platform", "active"]

    def clean_secret(self):
        secret = self.cleaned_data["secret"]
        if not secret and self.instance.pk is None:
            raise ValidationError("required when connecting a platform")
        if secret:
            try:
                check_secret(secret)
            except AdapterConfigError as exc:
                raise ValidationError(str(exc)) from None
        return secret


class PolicyMappingInline(admin.TabularInline):
    model = PolicyMapping
    extra = 1
    fields = ["kind", "value", "policy"]


@admin.register(AdapterConfig)
class AdapterConfigAdmin(admin.ModelAdmin):
    """Connects an API client to a platform's webhooks. Writes go through
    integrations.adapters.services (audited); the secret is write-only."""

    form = AdapterConfigForm
    inlines = [PolicyMappingInline]
    list_display = ["api_client", "platform", "active", "webhook_path", "updated_at"]
    list_filter = ["platform", "active"]
    readonly_fields = ["webhook_path", "secret_status", "created_at", "updated_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["api_client", "platform", "secret"]
        return ["api_client", "platform", "active", "secret", "secret_status", "webhook_path", "created_at",
                "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["api_client", "platform", *self.readonly_fields]

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: the audit trail refers to it

    @admin.display(description="Secret")
    def secret_status(self, obj):
        return f"set ({len(obj.webhook_secret)} characters)" if obj.webhook_secret else "not set"

    @admin.display(description="Webhook URL (after your Quorum address)")
    def webhook_path(self, obj):
        return obj.webhook_path

    def save_model(self, request, obj, form, change):
        actor = Actor.user(request.user)
        data = form.cleaned_data
        try:
            if change:
                saved = adapter_config_update(config_id=obj.pk, actor=actor, webhook_secret=data.get("secret") or None,
                                              active=data.get("active"))
            else:
                saved = adapter_config_create(api_client=data["api_client"], platform=data["platform"],
                                              webhook_secret=data["secret"], actor=actor)
        except AdapterConfigError as exc:
            messages.error(request, str(exc))
            raise
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        # The inline rows are the whole mapping (on creation: the adapter's
        # defaults, with any rows entered overriding them).
        config = form.instance
        rows = {} if change else {(m.kind, m.value): m.policy for m in config.policy_mappings.select_related("policy")}
        for inline in formset.forms:
            data = getattr(inline, "cleaned_data", None) or {}
            if not data or data.get("DELETE") or not data.get("kind") or not data.get("policy"):
                continue
            rows[(data["kind"], str(data["value"]).strip())] = data["policy"]
        adapter_mappings_set(config_id=config.pk, mappings=[(k, v, p) for (k, v), p in rows.items()],
                             actor=Actor.user(request.user))
        # What formset.save() would have set; the admin's change message reads them.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
