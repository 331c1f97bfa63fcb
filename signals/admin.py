"""Admin for hash lists: settings through signals.services.hash_list_save,
entries by uploading a file (signals.services.hash_list_load), both audited."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from audit.context import Actor

from .models import HashList
from .services import HashListError, hash_list_load, hash_list_save, parse_hash_lines


class HashListForm(forms.ModelForm):
    upload = forms.FileField(label=_("Hashes to add"), required=False,
                             help_text=_("CSV lines algorithm,hash[,label] (sha256 or pdq), or one SHA-256 a line"))
    replace = forms.BooleanField(label=_("Replace the list's hashes"), required=False)

    class Meta:
        model = HashList
        fields = ["name", "description", "pdq_threshold", "active"]

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        if upload is None:
            return ""
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError(_("The file must be UTF-8 text.")) from None
        try:
            parse_hash_lines(text)
        except HashListError as exc:
            raise forms.ValidationError(str(exc)) from None
        return text


@admin.register(HashList)
class HashListAdmin(admin.ModelAdmin):
    form = HashListForm
    list_display = ["name", "pdq_threshold", "active", "created_at"]

    def save_model(self, request, obj, form, change):
        actor = Actor.user(request.user)
        hash_list_save(hash_list=obj, actor=actor)
        text = form.cleaned_data.get("upload") or ""
        if text or form.cleaned_data.get("replace"):
            try:
                hash_list_load(name=obj.name, text=text, actor=actor, replace=form.cleaned_data.get("replace", False))
            except HashListError as exc:
                messages.error(request, _("Hashes not loaded: %(reason)s") % {"reason": exc})
