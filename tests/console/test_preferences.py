"""Configured names in the console's language (admin-maintained translations with the name as
fallback) and times in the user's time zone, labelled."""
import re
import zoneinfo
from datetime import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, Policy, Queue
from cases.translations import translated_name, validate_name_translations
from console.models import ConsolePreference
from console.preferences import preference_time_zone_set
from reviews.models import Outcome, Review
from reviews.services import seat_assign


def _german(client):
    client.cookies["django_language"] = "de"
    return client


def test_translated_name_falls_back_to_the_name():
    policy = Policy(code="x", name="Spam wave", name_translations={"de": "Spamwelle"})
    assert translated_name(policy, "de") == "Spamwelle"
    assert translated_name(policy, "de-at") == "Spamwelle"  # regional variant → base language
    assert translated_name(policy, "en") == "Spam wave"
    assert translated_name(Policy(code="y", name="Plain"), "de") == "Plain"
    assert translated_name({"name": "Row", "name_translations": {"de": "Zeile"}}, "de") == "Zeile"
    assert translated_name(Policy(code="z", name="Blank", name_translations={"de": "  "}), "de") == "Blank"


@pytest.mark.parametrize("value, code", [
    (["de", "Spam"], "not_object"),
    ({"xx": "Spam"}, "unknown_language"),
    ({"de": ""}, "bad_name"),
    ({"de": 5}, "bad_name"),
    ({"de": "x" * 201}, "bad_name"),
])
def test_bad_translations_are_refused_naming_the_reason(value, code):
    with pytest.raises(ValidationError) as caught:
        validate_name_translations(value)
    assert caught.value.code == code


def test_admin_refuses_bad_translations_without_writing(db, admin_client, policy_book):
    spam = policy_book["spam"]
    url = reverse("admin:cases_policy_change", args=[spam.pk])
    response = admin_client.post(url, {"code": "spam", "name": spam.name, "name_translations": '{"xx": "Spam"}',
                                       "description": "", "severity": 2, "dsa_category": "", "active": "on"})
    assert response.status_code == 200 and "is not a console language" in response.content.decode()
    spam.refresh_from_db()
    assert "xx" not in spam.name_translations


def test_german_console_shows_configured_names_in_german(people, file_case, sign_in):
    case_id = file_case(text="German names please", policy="hate")
    mod = people["moderators"][0]
    seat_assign(review_id=Review.objects.get(case_id=case_id).pk, moderator=mod, lead=people["seniors"][0])
    Queue.objects.filter(slug="general").update(name_translations={"de": "Allgemein"})
    html = _german(sign_in(mod)).get(reverse("console:case", args=[case_id])).content.decode()
    assert Outcome.objects.get(code="remove_content").name_translations == {"de": "Inhalt entfernen"}
    assert "Inhalt entfernen" in html and "Remove content" not in html
    assert "Hassrede" in html and "Hateful conduct" not in html  # the default policy book's German names
    assert "Allgemein" in html
    # The stage's rule is German too.
    assert re.search(r"2 von 3, verdeckt|2 von 3", html)
    english = sign_in(mod).get(reverse("console:case", args=[case_id])).content.decode()
    assert "Remove content" in english and "Inhalt entfernen" not in english


# ---- time zones ------------------------------------------------------------------------------------


def test_time_zone_setting_is_validated_saved_and_used(people, file_case, sign_in):
    case_id = file_case(text="when?")
    Case.objects.filter(pk=case_id).update(opened_at=datetime(2026, 3, 10, 9, 34, tzinfo=zoneinfo.ZoneInfo("UTC")))
    auditor = people["auditor"]
    client = sign_in(auditor)
    bad = client.post(reverse("console:preferences"), {"time_zone": "Mars/Olympus"})
    assert bad.status_code == 400 and "time_zone" in bad.content.decode()
    assert not ConsolePreference.objects.filter(user=auditor).exclude(time_zone="").exists()

    assert client.post(reverse("console:preferences"), {"time_zone": "Europe/Berlin"}).status_code == 302
    assert ConsolePreference.objects.get(user=auditor).time_zone == "Europe/Berlin"
    html = client.get(reverse("console:case", args=[case_id])).content.decode()
    assert "10:34" in html and "Times: Europe/Berlin" in html  # 09:34 UTC is 10:34 in Berlin (CET)

    # A fresh sign-in picks the saved zone up again; the audit filters name it.
    html = sign_in(auditor).get(reverse("console:audit")).content.decode()
    assert "(Europe/Berlin)" in html

    # Back to "follow the browser": the browser's zone (cookie) applies, else the site's.
    assert client.post(reverse("console:preferences"), {"time_zone": ""}).status_code == 302
    client.cookies["quorum_tz"] = "America%2FNew_York"
    assert "Times: America/New_York" in client.get(reverse("console:my-work")).content.decode()
    client.cookies["quorum_tz"] = "Nowhere/Bogus"
    assert f"Times: {timezone.get_default_timezone_name()}" in client.get(reverse("console:my-work")).content.decode()


def test_preference_service_refuses_unknown_zones(people):
    with pytest.raises(ValidationError):
        preference_time_zone_set(user=people["moderators"][0], time_zone="Europe/Atlantis")
    assert preference_time_zone_set(user=people["moderators"][0], time_zone="Asia/Tokyo").time_zone == "Asia/Tokyo"
