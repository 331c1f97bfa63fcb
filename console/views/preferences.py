"""The user's own console settings: the time zone times are shown in."""
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..decorators import console_view
from ..preferences import SESSION_KEY, known_time_zones, preference_time_zone_set, time_zone_saved


def _zone_choices():
    return [("", gettext_lazy("My browser’s time zone"))] + [(z, z) for z in sorted(known_time_zones())]


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(label=gettext_lazy("Time zone"), required=False, choices=_zone_choices)


@console_view()
def preferences(request):
    if request.method == "POST":
        form = TimeZoneForm(request.POST)
        if form.is_valid():
            try:
                preference_time_zone_set(user=request.user, time_zone=form.cleaned_data["time_zone"])
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                if form.cleaned_data["time_zone"]:
                    request.session[SESSION_KEY] = form.cleaned_data["time_zone"]
                else:
                    request.session.pop(SESSION_KEY, None)
                messages.success(request, _("Your settings were saved."))
                return redirect("console:preferences")
        return render(request, "console/preferences.html", {"form": form, "page_has_errors": True}, status=400)
    form = TimeZoneForm(initial={"time_zone": time_zone_saved(user=request.user)})
    return render(request, "console/preferences.html", {"form": form})
