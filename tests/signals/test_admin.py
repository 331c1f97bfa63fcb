"""Hash lists in the admin: created and loaded through the services (audited); a bad file loads nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from signals.models import HashList, HashListEntry, PdqBand

pytestmark = pytest.mark.django_db
URL = "/admin/signals/hashlist/add/"


@pytest.fixture
def admin(client, people):
    people["admin"].is_superuser = True
    people["admin"].save()
    client.force_login(people["admin"])
    return client


def test_an_admin_uploads_a_hash_list(admin):
    upload = SimpleUploadedFile("list.csv", f"pdq,{'f0' * 32},known\n{'ab' * 32}\n".encode())
    response = admin.post(URL, {"name": "shared", "description": "", "pdq_threshold": "20", "active": "on",
                                "upload": upload})
    assert response.status_code == 302, response.content.decode()[:2000]
    hash_list = HashList.objects.get(name="shared")
    assert hash_list.pdq_threshold == 20
    assert sorted(HashListEntry.objects.values_list("algorithm", flat=True)) == ["pdq", "sha256"]
    assert PdqBand.objects.count() == 16
    actions = list(AuditEvent.objects.filter(target_type="hash_list").values_list("data", flat=True))
    assert any(d.get("added") == 2 for d in actions) and any(d.get("created") for d in actions)


def test_a_bad_file_is_refused_with_the_line_and_nothing_is_saved(admin):
    upload = SimpleUploadedFile("list.csv", b"sha256,not-a-hash\n")
    response = admin.post(URL, {"name": "broken", "pdq_threshold": "31", "active": "on", "upload": upload})
    assert response.status_code == 200 and "line 1" in response.content.decode()
    assert not HashList.objects.exists()
    too_far = admin.post(URL, {"name": "far", "pdq_threshold": "40", "active": "on"})
    assert too_far.status_code == 200 and not HashList.objects.exists()
