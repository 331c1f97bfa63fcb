"""Admin for webhook endpoints and their delivery log. Saves and actions go
through the services (validated, audited); a new endpoint's signing secret,
and a rotated one, are shown once on a page of their own (never stored in a
message cookie)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from audit.context import Actor

from ..models import (
    WEBHOOK_EVENT_TYPES,
    DeliveryState,
    EndpointPurpose,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from . import services
from .addresses import UnsafeUrl, check_url


class WebhookEndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(choices=[(t, f"{t} — {d}") for t, d in WEBHOOK_EVENT_TYPES.items()],
                                            widget=forms.CheckboxSelectMultiple, initial=list(WEBHOOK_EVENT_TYPES))

    class Meta:
        model = WebhookEndpoint
        fields = ["source", "url", "event_types", "description", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding and "source" in self.fields:  # not there on a view-only page
            self.fields["source"].disabled = True

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            check_url(url)
        except UnsafeUrl as exc:
            raise ValidationError(str(exc)) from None
        return url


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["number", "started_at", "status_code", "duration_ms", "succeeded", "error", "response_excerpt"]
    readonly_fields = fields
    extra = 0
    ordering = ["number"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "source", "active", "paused", "consecutive_failures", "pending", "dead", "last_success_at"]
    list_filter = ["active", ("paused_at", admin.EmptyFieldListFilter), "source"]
    search_fields = ["url", "description"]
    readonly_fields = ["paused_at", "pause_reason", "previous_secret_expires_at", "consecutive_failures", "failing_since",
                       "last_success_at", "last_failure_at", "created_by_client", "created_at", "updated_at", "log_link"]
    actions = ["resume", "redeliver_dead", "rotate_secret", "deactivate"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("source").annotate(
            pending_count=Count("deliveries", filter=Q(deliveries__state=DeliveryState.PENDING)),
            dead_count=Count("deliveries", filter=Q(deliveries__state=DeliveryState.DEAD)))

    def get_fields(self, request, obj=None):
        fields = ["source", "url", "event_types", "description", "active"]
        return fields if obj is None else fields + self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    # The audit witness's row (integrations/witness.py) follows the settings: shown, with its delivery log,
    # but not edited, deleted or acted on here.
    def _is_witness(self, obj):
        return obj is not None and obj.purpose == EndpointPurpose.AUDIT_WITNESS

    def has_change_permission(self, request, obj=None):
        return not self._is_witness(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._is_witness(obj) and super().has_delete_permission(request, obj)

    @admin.display(boolean=True)
    def paused(self, obj):
        return obj.paused_at is not None

    @admin.display(ordering="pending_count")
    def pending(self, obj):
        return obj.pending_count

    @admin.display(ordering="dead_count", description="dead-lettered")
    def dead(self, obj):
        return obj.dead_count

    @admin.display(description="delivery log")
    def log_link(self, obj):
        url = reverse("admin:integrations_webhookdelivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html('<a href="{}">deliveries and attempts</a>', url)

    def _actor(self, request):
        return Actor.user(request.user)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            endpoint, secret = services.webhook_endpoint_create(
                source=data["source"], url=data["url"], event_types=data["event_types"],
                description=data.get("description", ""), active=data.get("active", True), actor=self._actor(request))
            obj.pk = endpoint.pk
            request._webhook_secret = (endpoint, secret)
            return
        fields = {name: data[name] for name in ("url", "event_types", "description", "active") if name in form.changed_data}
        services.webhook_endpoint_update(endpoint_id=obj.pk, actor=self._actor(request), **fields)

    def save_related(self, request, form, formsets, change):
        pass  # no related objects are edited here; the endpoint was saved by the service

    def delete_model(self, request, obj):
        services.webhook_endpoint_delete(endpoint_id=obj.pk, actor=self._actor(request))

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            self.delete_model(request, endpoint)

    def response_add(self, request, obj, post_url_continue=None):
        endpoint, secret = request._webhook_secret
        return self._secret_page(request, endpoint, secret)

    def _secret_page(self, request, endpoint, secret):
        context = {**self.admin_site.each_context(request), "title": "Webhook signing secret", "endpoint": endpoint,
                   "secret": secret, "back": reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk])}
        return TemplateResponse(request, "admin/integrations/webhookendpoint/secret.html", context)

    @admin.action(description="Resume the selected paused endpoints (their missed events follow)")
    def resume(self, request, queryset):
        queryset = queryset.filter(purpose=EndpointPurpose.WEBHOOK)
        for endpoint in queryset:
            services.webhook_endpoint_update(endpoint_id=endpoint.pk, actor=self._actor(request), resume=True)
        messages.success(request, f"resumed {queryset.count()} endpoint(s)")

    @admin.action(description="Deactivate the selected endpoints")
    def deactivate(self, request, queryset):
        queryset = queryset.filter(purpose=EndpointPurpose.WEBHOOK)
        for endpoint in queryset:
            services.webhook_endpoint_update(endpoint_id=endpoint.pk, actor=self._actor(request), active=False)
        messages.success(request, f"deactivated {queryset.count()} endpoint(s)")

    @admin.action(description="Redeliver all dead-lettered events of the selected endpoints")
    def redeliver_dead(self, request, queryset):
        queryset = queryset.filter(purpose=EndpointPurpose.WEBHOOK)
        total = sum(services.webhook_redeliver_dead(endpoint_id=e.pk, actor=self._actor(request)) for e in queryset)
        messages.success(request, f"queued {total} dead-lettered deliveries again")

    @admin.action(description="Rotate the signing secret (one endpoint)")
    def rotate_secret(self, request, queryset):
        queryset = queryset.filter(purpose=EndpointPurpose.WEBHOOK)
        if queryset.count() != 1:
            messages.error(request, "select exactly one endpoint: its new secret is shown once")
            return None
        endpoint, secret = services.webhook_secret_rotate(endpoint_id=queryset.get().pk, actor=self._actor(request))
        return self._secret_page(request, endpoint, secret)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read-only, with the redeliver action."""

    list_display = ["id", "endpoint", "event_type", "event_id", "state", "attempts", "last_status_code", "last_error",
                    "next_attempt_at", "created_at"]
    list_filter = ["state", "event__type"]
    list_select_related = ["endpoint", "event"]
    search_fields = ["event__public_id", "endpoint__url"]
    fields = ["endpoint", "event_id", "event_type", "state", "attempts", "next_attempt_at", "first_attempt_at",
              "last_attempt_at", "last_status_code", "last_error", "delivered_at", "dead_at", "created_at", "body"]
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["redeliver"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("event__body")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_redeliver_permission(self, request):
        return request.user.has_perm("integrations.change_webhookendpoint")

    @admin.display(ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description="event id")
    def event_id(self, obj):
        return obj.event.public_id

    @admin.display(description="payload")
    def body(self, obj):
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", obj.event.body)

    @admin.action(description="Redeliver the selected events", permissions=["redeliver"])
    def redeliver(self, request, queryset):
        queued = sum(services.webhook_redeliver(delivery_id=d.pk, actor=Actor.user(request.user)) for d in queryset)
        messages.success(request, f"queued {queued} deliveries again (pending ones are left as they are)")
