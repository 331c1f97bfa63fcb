"""Admin form fields: SLA durations entered as hours and minutes and stored
in seconds (Stage.sla_seconds, SlaPolicy.duration_seconds)."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

MAX_HOURS = 24 * 366  # a year: anything longer is a typo


class HoursMinutesWidget(forms.MultiWidget):
    template_name = "django/forms/widgets/multiwidget.html"

    def __init__(self, attrs=None):
        hours = forms.NumberInput(attrs={"min": 0, "max": MAX_HOURS, "step": 1, "class": "vIntegerField",
                                         "aria-label": _("hours"), "placeholder": _("hours")})
        minutes = forms.NumberInput(attrs={"min": 0, "max": 59, "step": 1, "class": "vIntegerField",
                                           "aria-label": _("minutes"), "placeholder": _("minutes")})
        super().__init__([hours, minutes], attrs)

    def decompress(self, value: int | None) -> list[int | None]:
        if value in (None, ""):
            return [None, None]
        hours, rest = divmod(int(value), 3600)
        return [hours, round(rest / 60)]


class HoursMinutesField(forms.MultiValueField):
    """Seconds, entered as hours and minutes (either may be left empty for 0 when the other is given)."""

    widget = HoursMinutesWidget

    def __init__(self, *, required: bool = True, **kwargs):
        fields = (
            forms.IntegerField(min_value=0, max_value=MAX_HOURS, error_messages={
                "min_value": _("Hours cannot be negative."), "max_value": _("At most %(limit_value)s hours."),
                "invalid": _("Enter whole hours.")}),
            forms.IntegerField(min_value=0, max_value=59, error_messages={
                "min_value": _("Minutes cannot be negative."), "max_value": _("Minutes are 0 to 59: add hours."),
                "invalid": _("Enter whole minutes.")}),
        )
        kwargs.setdefault("help_text", _("hours and minutes"))
        kwargs.setdefault("error_messages", {"required": _("Enter the time in hours and minutes."),
                                             "incomplete": _("Enter the time in hours and minutes.")})
        super().__init__(fields, required=required, require_all_fields=False, **kwargs)

    def compress(self, data_list: list[int | None]) -> int | None:
        if not data_list or all(v in (None, "") for v in data_list):
            if self.required:
                raise ValidationError(_("Enter the time in hours and minutes."), code="required")
            return None
        hours, minutes = (int(v or 0) for v in data_list)
        seconds = hours * 3600 + minutes * 60
        if seconds <= 0:
            raise ValidationError(_("The time must be at least one minute."), code="min_value")
        return seconds


def hours_minutes(seconds: int | None) -> str:
    """"2 h 30 min" for 9000, "" for None (lists and read-only pages)."""
    if seconds is None:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(p for p in parts if p) or "0 min"
