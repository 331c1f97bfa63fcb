"""Audit of privilege changes, from Django's auth signals.

Django's admin, `createsuperuser`, `changepassword` and any shell write users
and groups themselves, so these receivers see every path. Each event is
recorded in the transaction of the change when there is one (the admin's), and
in its own transaction otherwise (autocommit, e.g. a shell's `user.save()`).
Passwords and their hashes are never recorded — only that one changed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

import audit
from audit.context import Actor
from audit.services import CONFIG_STREAM
from config.client_ip import client_ip

from .context import current_actor
from .signin import limiter_username

SYSTEM_STREAM = "system"
PROFILE_FIELDS = ("username", "email", "first_name", "last_name")
PRIVILEGE_FIELDS = ("is_staff", "is_superuser")
# Writes of only these fields are bookkeeping, not a change of who may do what.
BOOKKEEPING_FIELDS = frozenset({"last_login"})


def _record(**kwargs: Any) -> None:
    with transaction.atomic():
        audit.record(**kwargs)


def _user_snapshot(user: Any) -> dict[str, Any]:
    return {f: getattr(user, f, None) for f in (*PROFILE_FIELDS, *PRIVILEGE_FIELDS, "is_active", "password")}


def _user_pre_save(sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any) -> None:
    if raw or instance.pk is None:
        instance._access_before = None
        return
    if update_fields is not None and set(update_fields) <= BOOKKEEPING_FIELDS:
        instance._access_before = "skip"
        return
    old = sender._default_manager.filter(pk=instance.pk).values(
        *PROFILE_FIELDS, *PRIVILEGE_FIELDS, "is_active", "password").first()
    instance._access_before = old


def _user_post_save(sender: Any, instance: Any, created: bool, raw: bool = False, update_fields: Any = None,
                    **kwargs: Any) -> None:
    if raw:
        return
    before = getattr(instance, "_access_before", None)
    instance._access_before = None
    if before == "skip":
        return
    actor = current_actor()
    now = _user_snapshot(instance)
    target = {"target_type": "user", "target_id": instance.pk}
    name = instance.get_username()
    if created or before is None:
        _record(stream=CONFIG_STREAM, action="user.created", actor=actor, **target,
                data={"username": name, "email": now["email"] or "", "is_active": now["is_active"],
                      "is_staff": now["is_staff"], "is_superuser": now["is_superuser"],
                      "has_usable_password": instance.has_usable_password()})
        return
    changes = {f: {"from": before[f], "to": now[f]} for f in PROFILE_FIELDS if before[f] != now[f]}
    if changes:
        _record(stream=CONFIG_STREAM, action="user.changed", actor=actor, **target,
                data={"username": name, "changes": changes})
    privileges = {f: {"from": before[f], "to": now[f]} for f in PRIVILEGE_FIELDS if before[f] != now[f]}
    if privileges:
        _record(stream=CONFIG_STREAM, action="user.privileges_changed", actor=actor, **target,
                data={"username": name, "changes": privileges})
    if before["is_active"] != now["is_active"]:
        _record(stream=CONFIG_STREAM, action="user.reactivated" if now["is_active"] else "user.deactivated",
                actor=actor, **target, data={"username": name})
    if before["password"] != now["password"]:
        # An update of the password column alone is how Django stores a re-hash
        # after a sign-in when the hasher's parameters changed: labelled, still recorded.
        rehash = update_fields is not None and set(update_fields) == {"password"}
        _record(stream=CONFIG_STREAM, action="user.password_changed", actor=actor, **target,
                data={"username": name, "usable": instance.has_usable_password(), "rehash": rehash})


def _user_post_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    _record(stream=CONFIG_STREAM, action="user.deleted", actor=current_actor(), target_type="user",
            target_id=instance.pk, data={"username": instance.get_username()})


def _group_post_save(sender: Any, instance: Group, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    _record(stream=CONFIG_STREAM, action="group.changed", actor=current_actor(), target_type="group",
            target_id=instance.pk, data={"group": instance.name, "created": created})


def _group_pre_delete(sender: Any, instance: Group, **kwargs: Any) -> None:
    # Before the delete: the cascade empties the membership table without m2m signals.
    members = list(instance.user_set.values_list(get_user_model().USERNAME_FIELD, flat=True).order_by("pk"))
    _record(stream=CONFIG_STREAM, action="group.deleted", actor=current_actor(), target_type="group",
            target_id=instance.pk, data={"group": instance.name, "members": members})


def _names(model: Any, pks: Any) -> list[str]:
    if not pks:
        return []
    if model is Permission:
        rows = model.objects.filter(pk__in=pks).values_list("content_type__app_label", "codename")
        return sorted(f"{app}.{code}" for app, code in rows)
    if model is Group:
        return sorted(model.objects.filter(pk__in=pks).values_list("name", flat=True))
    field = model.USERNAME_FIELD
    return sorted(model._default_manager.filter(pk__in=pks).values_list(field, flat=True))


def _membership_changed(*, relation: str, owner_model: Any, sender: Any, instance: Any, action: str,
                        reverse: bool, model: Any, pk_set: Any, **kwargs: Any) -> None:
    """m2m_changed for user.groups, user.user_permissions and group.permissions,
    whichever side the change was made from (user.groups.add or group.user_set.add)."""
    if action == "pre_clear":
        related = getattr(instance, "_access_cleared", {})
        manager = getattr(instance, _manager_name(relation, reverse, owner_model))
        related[relation] = set(manager.values_list("pk", flat=True))
        instance._access_cleared = related
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if action == "post_clear":
        pk_set = getattr(instance, "_access_cleared", {}).pop(relation, set())
    if not pk_set:
        return
    verb = "added" if action == "post_add" else "removed"
    actor = current_actor()
    if not reverse:
        # instance is the owner (user or group); pk_set are the related objects.
        owners = [instance]
        related_names = _names(model, pk_set)
    else:
        owners = list(owner_model._default_manager.filter(pk__in=pk_set).order_by("pk"))
        related_names = [_display(instance)]
    for owner in owners:
        owner_type = "group" if isinstance(owner, Group) else "user"
        _record(stream=CONFIG_STREAM, action=f"{owner_type}.{relation}_changed", actor=actor,
                target_type=owner_type, target_id=owner.pk,
                data={owner_type if owner_type == "group" else "username": _display(owner), verb: related_names})


def _display(obj: Any) -> str:
    if isinstance(obj, Group):
        return obj.name
    if isinstance(obj, Permission):
        return f"{obj.content_type.app_label}.{obj.codename}"
    return obj.get_username()


def _manager_name(relation: str, reverse: bool, owner_model: Any) -> str:
    if reverse:
        return "group_set" if owner_model is Group else "user_set"
    if relation == "groups":
        return "groups"
    return "permissions" if owner_model is Group else "user_permissions"


def _site(request: Any) -> str:
    path = getattr(request, "path", "") or ""
    return "admin" if path.startswith("/admin/") else ("console" if request is not None else "other")


def _signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    _record(stream=SYSTEM_STREAM, action="user.signed_in", actor=Actor.user(user), target_type="user",
            target_id=user.pk, data={"username": user.get_username(), "site": _site(request)})


def _sign_in_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    # `credentials` has the password already masked by Django; only the name is kept.
    name = limiter_username(request, credentials)
    _record(stream=SYSTEM_STREAM, action="user.sign_in_failed", actor=Actor.system("sign-in"),
            target_type="username", target_id=name[:64],
            data={"username": name, "site": _site(request),
                  "locked": bool(getattr(request, "axes_locked_out", False)),
                  "client_ip": client_ip(request) if request is not None else ""})


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(_user_pre_save, sender=user_model, dispatch_uid="access.user_pre_save")
    post_save.connect(_user_post_save, sender=user_model, dispatch_uid="access.user_post_save")
    post_delete.connect(_user_post_delete, sender=user_model, dispatch_uid="access.user_post_delete")
    post_save.connect(_group_post_save, sender=Group, dispatch_uid="access.group_post_save")
    pre_delete.connect(_group_pre_delete, sender=Group, dispatch_uid="access.group_pre_delete")

    def groups(**kw: Any) -> None:
        _membership_changed(relation="groups", owner_model=user_model, **kw)

    def user_permissions(**kw: Any) -> None:
        _membership_changed(relation="permissions", owner_model=user_model, **kw)

    def group_permissions(**kw: Any) -> None:
        _membership_changed(relation="permissions", owner_model=Group, **kw)

    m2m_changed.connect(groups, sender=user_model.groups.through, dispatch_uid="access.groups", weak=False)
    m2m_changed.connect(user_permissions, sender=user_model.user_permissions.through,
                        dispatch_uid="access.user_permissions", weak=False)
    m2m_changed.connect(group_permissions, sender=Group.permissions.through, dispatch_uid="access.group_permissions",
                        weak=False)
    user_logged_in.connect(_signed_in, dispatch_uid="access.signed_in")
    user_login_failed.connect(_sign_in_failed, dispatch_uid="access.sign_in_failed")
