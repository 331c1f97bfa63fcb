from django import forms
from django.contrib import admin, messages

from audit.context import Actor

from .models import SCOPES, ApiClient
from .services import api_client_revoke, api_client_update
from .webhooks import admin as _webhooks_admin  # noqa: F401  (registers the webhook admin)


class ApiClientForm(forms.ModelForm):
    scopes = forms.TypedMultipleChoiceField(choices=[(s, s) for s in sorted(SCOPES)],
                                            widget=forms.CheckboxSelectMultiple, required=False)

    class Meta:
        model = ApiClient
        fields = ["scopes", "rate_per_second", "burst"]


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """Clients are created with `manage.py create_api_client` (the key is shown
    once there); here admins see them, change scopes and limits (through
    `api_client_update`, audited) and revoke them."""

    form = ApiClientForm

    list_display = ["name", "source", "scopes", "rate_per_second", "burst", "active", "created_at"]
    list_filter = ["active"]
    readonly_fields = ["name", "source", "key_prefix", "key_hash", "active", "created_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        api_client_update(client_id=obj.pk, actor=Actor.user(request.user), scopes=form.cleaned_data["scopes"],
                          rate_per_second=form.cleaned_data["rate_per_second"], burst=form.cleaned_data["burst"])

    @admin.action(description="Revoke the selected API clients")
    def revoke(self, request, queryset):
        for client in queryset:
            api_client_revoke(client_id=client.pk, actor=Actor.user(request.user))
        messages.success(request, f"revoked {queryset.count()} client(s)")
