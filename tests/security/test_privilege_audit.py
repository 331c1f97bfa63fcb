"""Every privilege change leaves an audit event, whatever the path: the Django
admin, a management command, a shell. Passwords and hashes are never recorded."""
import json

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.test import Client

from audit.models import AuditEvent
from integrations.models import ApiClient


def _mark():
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _events(action, after=0, **filters):
    return list(AuditEvent.objects.filter(action=action, id__gt=after, **filters).order_by("id"))


@pytest.fixture
def admin_client(people):
    boss = people["admin"]
    boss.is_superuser = True
    boss.save()
    client = Client(REMOTE_ADDR="198.51.100.77")
    client.force_login(boss)
    return client


def _change_form(user, **overrides):
    data = {"username": user.username, "first_name": "", "last_name": "", "email": user.email,
            "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01", "initial-date_joined_1": "00:00:00",
            "groups": [str(g.pk) for g in user.groups.all()]}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_making_a_moderator_superuser_and_senior_in_the_admin_is_audited(people, admin_client):
    """The issue's attack: superuser flag plus the admin and senior groups, through the admin."""
    mod = people["moderators"][2]
    admin_group, senior = Group.objects.get(name="admin"), Group.objects.get(name="senior_moderator")
    form = _change_form(mod, is_staff="on", is_superuser="on",
                        groups=[str(g.pk) for g in (*mod.groups.all(), admin_group, senior)])
    mark = _mark()
    response = admin_client.post(f"/admin/auth/user/{mod.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    mod.refresh_from_db()
    assert mod.is_superuser and mod.is_staff

    [flags] = _events("user.privileges_changed", mark, target_id=str(mod.pk))
    assert flags.data["changes"] == {"is_staff": {"from": False, "to": True},
                                     "is_superuser": {"from": False, "to": True}}
    assert (flags.actor_type, flags.actor_name) == ("user", "admin1")
    assert flags.ip == "198.51.100.77" and flags.stream == "config"
    [groups] = _events("user.groups_changed", mark, target_id=str(mod.pk))
    assert groups.data == {"username": "mod3", "added": ["admin", "senior_moderator"]}
    assert groups.actor_name == "admin1"


def test_removing_group_membership_is_audited_from_either_side(people):
    mod = people["moderators"][0]
    moderators = Group.objects.get(name="moderator")
    mark = _mark()
    moderators.user_set.remove(mod)
    mod.groups.add(Group.objects.get(name="auditor"))
    mod.groups.clear()
    events = _events("user.groups_changed", mark, target_id=str(mod.pk))
    assert [e.data for e in events] == [
        {"username": "mod1", "removed": ["moderator"]},
        {"username": "mod1", "added": ["auditor"]},
        {"username": "mod1", "removed": ["auditor"]},
    ]


def test_user_created_in_the_admin_and_password_reset_are_audited_without_the_password(people, admin_client):
    response = admin_client.post("/admin/auth/user/add/", {
        "username": "newmod", "usable_password": "true",
        "password1": "Plain-Secret-4711", "password2": "Plain-Secret-4711"})
    assert response.status_code == 302, response.content[:2000]
    user = User.objects.get(username="newmod")
    [created] = _events("user.created", target_id=str(user.pk))
    assert created.data["has_usable_password"] is True and created.actor_name == "admin1"

    response = admin_client.post(f"/admin/auth/user/{user.pk}/password/", {
        "usable_password": "true", "password1": "Other-Secret-0815", "password2": "Other-Secret-0815"})
    assert response.status_code == 302, response.content[:2000]
    [changed] = _events("user.password_changed", target_id=str(user.pk))
    assert changed.actor_name == "admin1" and changed.data["rehash"] is False

    everything = json.dumps(list(AuditEvent.objects.values("data")), default=str)
    assert "Secret" not in everything
    assert user.password.split("$")[-1] not in everything and "pbkdf2" not in everything


def test_shell_changes_are_audited_with_the_os_account_as_actor(people):
    mod = people["moderators"][1]
    mod.is_superuser = True
    mod.save()
    mod.is_active = False
    mod.save()
    mod.set_password("shell-chosen-pass")
    mod.save()
    mod.email = "m2@example.org"
    mod.save()
    flags = _events("user.privileges_changed", target_id=str(mod.pk))
    assert [e.data["changes"] for e in flags] == [{"is_superuser": {"from": False, "to": True}}]
    assert flags[0].actor_type == "system" and ":" in flags[0].actor_name
    assert len(_events("user.deactivated", target_id=str(mod.pk))) == 1
    assert len(_events("user.password_changed", target_id=str(mod.pk))) == 1
    [profile] = _events("user.changed", target_id=str(mod.pk))
    assert profile.data["changes"] == {"email": {"from": "", "to": "m2@example.org"}}
    pk = mod.pk
    mod.delete()
    assert _events("user.deleted", target_id=str(pk))[0].data == {"username": "mod2"}


def test_sign_in_bookkeeping_is_not_a_privilege_change(people):
    mark = _mark()
    client = Client()
    assert client.post("/login/", {"username": "mod4", "password": "x-mod4"}).status_code == 302
    mod = people["moderators"][3]
    assert not AuditEvent.objects.filter(target_type="user", target_id=str(mod.pk), stream="config",
                                         id__gt=mark).exists()
    assert _events("user.signed_in", target_id=str(mod.pk))[0].data["site"] == "console"


def test_management_commands_are_audited(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "Mgmt-Cmd-Pass-991")
    call_command("createsuperuser", interactive=False, username="root2", email="r@example.org", verbosity=0)
    user = User.objects.get(username="root2")
    [created] = _events("user.created", target_id=str(user.pk))
    assert created.data["is_superuser"] is True and created.data["is_staff"] is True
    assert created.actor_type == "system"
    assert "Mgmt-Cmd" not in json.dumps(created.data)


def test_group_and_permission_changes_are_audited(people):
    group = Group.objects.create(name="child_safety")
    perm = Permission.objects.get(codename="change_user")
    group.permissions.add(perm)
    people["moderators"][4].user_permissions.add(perm)
    group.user_set.add(people["moderators"][4])
    group.delete()
    assert _events("group.changed")[-1].data == {"group": "child_safety", "created": True}
    assert _events("group.permissions_changed")[0].data == {"group": "child_safety", "added": ["auth.change_user"]}
    assert _events("user.permissions_changed")[0].data == {"username": "mod5", "added": ["auth.change_user"]}
    assert _events("group.deleted")[0].data == {"group": "child_safety", "members": ["mod5"]}


def test_api_client_rescoped_in_the_admin_is_audited(admin_client, make_api_client):
    client, _key = make_api_client(scopes=("reports:write",))
    response = admin_client.post(f"/admin/integrations/apiclient/{client.pk}/change/", {
        "scopes": ["reports:write", "cases:read"], "rate_per_second": "5", "burst": str(client.burst)})
    assert response.status_code == 302, response.content[:2000]
    client.refresh_from_db()
    assert client.scopes == ["cases:read", "reports:write"] and client.rate_per_second == 5
    [event] = _events("api_client.rescoped", target_id=str(client.pk))
    assert event.data["changes"]["scopes"] == {"from": ["reports:write"], "to": ["cases:read", "reports:write"]}
    assert event.actor_name == "admin1"
    assert ApiClient.objects.get(pk=client.pk).active
