import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from rest_framework.test import APIClient

from audit.context import Actor
from audit.models import AuditEvent
from cases.models import Case, Queue, Report, ReporterKind, Subject
from cases.services import queue_save
from cases.visibility import case_access
from integrations import auth
from integrations.management.commands.load_demo_data import DEMO_PASSWORD, DEMO_TEAMS, DEMO_USERS, ROLE_GROUPS
from integrations.models import ApiClient
from reviews.models import Review

pytestmark = pytest.mark.django_db


@pytest.fixture
def load(policy_book, tmp_path, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
    key_file = tmp_path / "demo-api-key.txt"

    def run(*args):
        out = StringIO()
        call_command("load_demo_data", *args, key_file=key_file, stdout=out)
        text = out.getvalue()
        return text, re.search(r"key: (qrm_\S+)", text).group(1)

    run.key_file = key_file
    return run


def _counts():
    User = get_user_model()
    return {
        "users": User.objects.count(), "groups": Group.objects.count(), "queues": Queue.objects.count(),
        "clients": ApiClient.objects.count(), "subjects": Subject.objects.count(), "cases": Case.objects.count(),
        "reports": Report.objects.count(), "audit": AuditEvent.objects.count(),
    }


def test_running_twice_creates_nothing_twice(load):
    _, first_key = load()
    after_first = _counts()
    output, second_key = load()

    assert _counts() == after_first
    assert second_key == first_key
    assert "0 report(s) filed now" in output
    assert ApiClient.objects.filter(active=True).count() == 1
    # one for the users, one per team, all from the first run
    assert AuditEvent.objects.filter(action="system.demo_data_loaded").count() == 1 + len(DEMO_TEAMS)


def test_users_are_in_their_role_groups(load):
    load()
    User = get_user_model()

    assert set(Group.objects.filter(name__in=ROLE_GROUPS).values_list("name", flat=True)) == set(ROLE_GROUPS)
    teams = {username: {team} for team, members, _ in DEMO_TEAMS for username in members}
    for username, group, staff in DEMO_USERS:
        user = User.objects.get(username=username)
        assert set(user.groups.values_list("name", flat=True)) == {group} | teams.get(username, set())
        assert (user.is_staff, user.is_superuser) == (staff, staff)
    assert User.objects.get(username="admin1").is_superuser


def test_the_child_safety_queue_is_restricted_to_its_team(load):
    load()
    User = get_user_model()
    queue = Queue.objects.get(slug="child-safety")
    assert list(queue.restricted_to.values_list("name", flat=True)) == ["child-safety-team"]
    case = Case.objects.get(subject__external_id="post-2002")
    for username in ("senior1", "senior2", "senior3", "admin1", "auditor1"):
        assert case_access(case_id=case.pk, user=User.objects.get(username=username)) == "visible", username
    assert case_access(case_id=case.pk, user=User.objects.get(username="moderator1")) == "hidden"
    # an admin lifts the restriction: loading the demo again leaves it lifted
    queue_save(queue=queue, actor=Actor.system("tests"), restricted_to=[])
    load()
    assert not queue.restricted_to.exists()


def test_demo_cases_land_in_their_queues(load):
    load()

    spam = Case.objects.get(subject__external_id="post-1001")
    assert spam.queue.slug == "spam"
    harassment = Case.objects.get(subject__external_id="acct-4242", subject__kind="account")
    assert (harassment.report_count, harassment.reporter_count) == (3, 3)
    assert harassment.queue.slug == "general"
    child_safety = Case.objects.get(subject__external_id="post-2002")
    assert child_safety.queue.slug == "child-safety"
    assert child_safety.reports.get().reporter_kind == ReporterKind.TRUSTED_FLAGGER
    automated = Report.objects.get(reporter_kind=ReporterKind.AUTOMATED)
    assert automated.classifier_score == pytest.approx(0.93)
    assert AuditEvent.objects.filter(action="case.opened", actor_name="demo data").count() == 4


def test_demo_cases_are_routed_to_the_default_workflows(load):
    load()

    workflow_of = {
        review.case.subject.external_id: review.stage.version.workflow.slug
        for review in Review.objects.select_related("case__subject", "stage__version__workflow")
    }
    assert workflow_of == {"post-1001": "standard", "acct-4242": "standard", "comment-3003": "standard",
                           "post-2002": "child-safety"}


def test_printed_key_files_reports(load, report_body):
    _, key = load()
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    response = http.post("/api/v1/reports", report_body(external_id="post-1001"), format="json")

    assert response.status_code == 200, response.content  # joins the demo spam case
    assert response.json()["deduplicated"] is True


def test_lost_key_file_revokes_the_old_client_and_creates_a_new_one(load, report_body):
    _, old_key = load()
    load.key_file.unlink()
    _, new_key = load()
    auth.clear_cache()

    assert new_key != old_key
    assert list(ApiClient.objects.order_by("created_at").values_list("name", "active")) == [
        ("demo-platform", False), ("demo-platform-2", True),
    ]
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {old_key}")
    assert http.post("/api/v1/reports", report_body(), format="json").status_code == 401
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {new_key}")
    assert http.post("/api/v1/reports", report_body(), format="json").status_code == 201
    assert load.key_file.stat().st_mode & 0o777 == 0o600


def test_without_debug_passwords_are_random_and_shown_once(load):
    first, _ = load()
    second, _ = load()
    user = get_user_model().objects.get(username="moderator1")

    password = re.search(r"moderator1\s+moderator\s+(\S+)\s+\(shown once\)", first).group(1)
    assert password != DEMO_PASSWORD
    assert user.check_password(password)
    assert password not in second
    assert "password unchanged" in second


def test_with_debug_demo_users_get_the_demo_password(load, settings):
    settings.DEBUG = True
    output, _ = load()

    assert get_user_model().objects.get(username="senior1").check_password(DEMO_PASSWORD)
    assert re.search(rf"senior1\s+senior_moderator\s+{DEMO_PASSWORD}$", output, re.M)


def test_reset_passwords_sets_new_ones(load):
    load()
    output, _ = load("--reset-passwords")

    password = re.search(r"auditor1\s+auditor\s+(\S+)\s+\(shown once\)", output).group(1)
    assert get_user_model().objects.get(username="auditor1").check_password(password)


def test_demo_media_are_harmless_images_served_by_quorum_and_shown_blurred(load, settings, client):
    from django.contrib.staticfiles import finders
    from django.core.management.base import CommandError

    from integrations.management.commands.load_demo_data import DEMO_IMAGES

    origin = "http://127.0.0.1:8123"
    load("--media-origin", origin)
    load("--media-origin", origin)  # idempotent: filed once
    subject = Subject.objects.get(external_id="post-4004")
    urls = [m["url"] for m in subject.latest_media]
    assert urls == [f"{origin}/static/demo/{name}" for name in DEMO_IMAGES]
    assert Report.objects.filter(subject=subject).count() == 1
    for name in DEMO_IMAGES:  # shipped with Quorum: static files, plain shapes, no script
        text = open(finders.find(f"demo/{name}"), encoding="utf-8").read()
        assert text.startswith("<svg") and "<script" not in text and "href" not in text
    # with the origin allowed (as `make run` does), the case page loads them blurred, and only then
    case = Case.objects.get(subject=subject)
    moderator = get_user_model().objects.get(username="moderator1")
    client.force_login(moderator)
    settings.CONSOLE_MEDIA_ORIGINS = []
    assert f'<img src="{urls[0]}"' not in client.get(f"/cases/{case.pk}/").content.decode()
    settings.CONSOLE_MEDIA_ORIGINS = [origin]
    response = client.get(f"/cases/{case.pk}/")
    html = response.content.decode()
    assert f'<img src="{urls[0]}"' in html and 'class="media-item blurred"' in html
    # an origin that is not one is refused, nothing filed
    with pytest.raises(CommandError, match="not an origin"):
        load("--media-origin", "javascript:alert(1)")
    with pytest.raises(CommandError, match="not an origin"):
        load("--media-origin", "http://127.0.0.1:8000/evil?x=1")
