"""Admin for the trusted-flagger registry and the strike thresholds. Saves go
through trust.flaggers so that every change is validated and audited; strikes,
proposals, sanctions and held notices are read-only records."""

import uuid

from django import forms
from django.apps import apps
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from audit.admin import ReadOnlyAdmin
from audit.context import Actor
from cases.models import Source

from .flaggers import flagger_save, threshold_delete, threshold_save
from .models import HeldNotice, ReporterSanction, Strike, StrikeProposal, StrikeThreshold, TrustedFlagger


class TrustedFlaggerForm(forms.ModelForm):
    identities = forms.CharField(
        label=_("vouched identities"), required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("one per line: source name, a colon, the external reporter id the platform uses "
                    "(e.g. forum:ngo-safe-kids)"))

    class Meta:
        model = TrustedFlagger
        fields = ["name", "status", "expertise", "api_client_id", "notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["identities"] = "\n".join(
                f"{i.source.name}:{i.reporter_external_id}" for i in self.instance.identities.select_related("source"))

    def clean_api_client_id(self):
        value = self.cleaned_data.get("api_client_id")
        # integrations sits above trust: look the model up by name instead of importing it
        if value is not None and not apps.get_model("integrations", "ApiClient").objects.filter(pk=value).exists():
            raise forms.ValidationError(_("No API client has this id."))
        return value

    def clean_identities(self):
        pairs, seen = [], set()
        sources = {s.name: s for s in Source.objects.all()}
        for number, line in enumerate((self.cleaned_data.get("identities") or "").splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            name, sep, external_id = line.partition(":")
            if not sep or not external_id.strip() or len(external_id.strip()) > 255:
                raise forms.ValidationError(_("Line %(n)s: write source:external id.") % {"n": number})
            if name.strip() not in sources:
                raise forms.ValidationError(_("Line %(n)s: there is no source named “%(name)s”.")
                                            % {"n": number, "name": name.strip()})
            key = (name.strip(), external_id.strip())
            if key in seen:
                raise forms.ValidationError(_("Line %(n)s repeats an identity.") % {"n": number})
            seen.add(key)
            pairs.append((sources[key[0]], key[1]))
        return pairs


def _uuid_or_none(value):
    return value if isinstance(value, uuid.UUID) or value is None else uuid.UUID(str(value))


@admin.register(TrustedFlagger)
class TrustedFlaggerAdmin(admin.ModelAdmin):
    form = TrustedFlaggerForm
    list_display = ["name", "status", "api_client_id", "updated_at"]
    list_filter = ["status"]
    filter_horizontal = ["expertise"]

    def save_model(self, request, obj, form, change):
        obj.api_client_id = _uuid_or_none(obj.api_client_id)  # saved with its expertise in save_related: one event

    def save_related(self, request, form, formsets, change):
        flagger_save(flagger=form.instance, actor=Actor.user(request.user),
                     expertise=list(form.cleaned_data["expertise"]), identities=form.cleaned_data["identities"])

    def has_delete_permission(self, request, obj=None):
        return False  # suspend instead: the flagger's past notices stay attributed


@admin.register(StrikeThreshold)
class StrikeThresholdAdmin(admin.ModelAdmin):
    list_display = ["__str__", "policy", "points", "action", "suspend_days"]
    list_select_related = ["policy"]

    def save_model(self, request, obj, form, change):
        threshold_save(threshold=obj, actor=Actor.user(request.user))

    def delete_model(self, request, obj):
        threshold_delete(threshold=obj, actor=Actor.user(request.user))

    def delete_queryset(self, request, queryset):
        for threshold in queryset:
            threshold_delete(threshold=threshold, actor=Actor.user(request.user))


@admin.register(Strike)
class StrikeAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "policy", "weight", "created_at", "expires_at", "removed_reason"]
    list_select_related = ["account", "policy"]


@admin.register(StrikeProposal)
class StrikeProposalAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "action", "points", "state", "case_id", "created_at"]
    list_select_related = ["account"]


@admin.register(ReporterSanction)
class ReporterSanctionAdmin(ReadOnlyAdmin):
    list_display = ["reporter_external_id", "source", "kind", "state", "created_at", "ends_at"]
    list_select_related = ["source"]


@admin.register(HeldNotice)
class HeldNoticeAdmin(ReadOnlyAdmin):
    list_display = ["id", "reporter_external_id", "subject_external_id", "policy", "received_at"]
    list_select_related = ["policy"]
