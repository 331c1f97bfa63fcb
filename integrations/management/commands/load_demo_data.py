"""Loads demo data: policy book, queues, role groups, demo users, the default
review workflows, a demo API client and a few cases. Safe to run any number of times: what exists is kept,
what is missing is created, and nothing is duplicated.

Passwords: with DEBUG=true every demo user gets the fixed DEMO_PASSWORD; with
DEBUG off each user gets a random password, printed once when it is created
(--reset-passwords sets and prints new ones). The API key is stored (mode
0600) in <QUORUM_VAR_DIR>/demo-api-key.txt when the client is created, since
only its hash is kept in the database; if that file is lost or no longer
matches, the old demo client is revoked and a fresh one is created.

This command sits at the top of the stack (it files reports through the intake
use case and creates an API client), so it imports those layers lazily.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

import audit
from audit.context import Actor
from audit.models import AuditAction
from audit.services import SYSTEM_STREAM
from cases.models import Case, Policy, Queue, Report
from cases.policybook import DEFAULT_POLICIES
from cases.selectors import invalidate_configuration_cache
from cases.services import policy_save, queue_save

DEMO_PASSWORD = "quorum-demo"  # only ever set when DEBUG is true
ROLE_GROUPS = ("moderator", "senior_moderator", "admin", "auditor")
# Enough reviewers for every default workflow to run to the end: 2-of-3
# moderator review, then an appeal by 3 moderators who took no part in it;
# 2-of-2 senior review on child safety, then approval by a third senior
# (four eyes: an approver cannot have voted for the result).
DEMO_USERS = (
    # username, group, is_staff and is_superuser
    *((f"moderator{i}", "moderator", False) for i in range(1, 7)),
    *((f"senior{i}", "senior_moderator", False) for i in range(1, 4)),
    ("admin1", "admin", True),
    ("auditor1", "auditor", False),
)
DEMO_QUEUES = (
    # slug, name, description, policy codes
    ("child-safety", "Child safety", "Specialist team; reports about the safety of minors.", ("child_safety",)),
    ("spam", "Spam", "High volume, low severity: spam, scams and platform manipulation.", ("spam",)),
)
# The demo queues' German names (admins maintain these in Queue.name_translations).
DEMO_QUEUE_NAMES_DE = {"child-safety": "Kinderschutz", "spam": "Spam", "general": "Allgemein"}
DEFAULT_QUEUE = ("general", "General", "Everything no other queue takes.")
# Per-team visibility (cases.visibility): the child-safety queue is seen only by its team (all three seniors:
# the child-safety workflow needs two reviewers and a third approver), admins and auditors; the moderators
# do not see it at all.
DEMO_TEAMS = (
    # group, members, queues restricted to it
    ("child-safety-team", ("senior1", "senior2", "senior3"), ("child-safety",)),
)
CLIENT_NAME = "demo-platform"
CLIENT_NAME_REGEX = r"^demo-platform(-[0-9]+)?$"
CLIENT_SCOPES = ("reports:write", "cases:read")

# Reports exactly as a platform would POST them to /api/v1/reports, with the
# Idempotency-Key that makes filing them again a no-op.
DEMO_REPORTS = (
    ("demo-spam-post-1", {
        "subject": {"kind": "content", "external_id": "post-1001", "url": "https://forum.example/posts/1001",
                    "text": "Cheap designer watches!!! 90% off, visit watches-deal.example now",
                    "language": "en", "author": {"external_id": "acct-777", "display_name": "best_deals_777"},
                    "metadata": {"view_count": 340}},
        "policy": "spam",
        "reporter": {"kind": "user", "external_id": "user-17"},
        "description": "Same post in ten threads today.",
    }),
    *(
        (f"demo-harassment-{reporter}", {
            "subject": {"kind": "account", "external_id": "acct-4242", "url": "https://forum.example/u/4242",
                        "display_name": "angry_neighbour", "metadata": {"followers_count": 1200}},
            "policy": "harassment",
            "reporter": {"kind": "user", "external_id": reporter},
            "description": description,
            "jurisdiction": ["DE"],
        })
        for reporter, description in (
            ("user-101", "Keeps sending me threatening private messages."),
            ("user-102", "Posted my home address under every one of my posts."),
            ("user-103", "Targets me and my friends in every thread we post in."),
        )
    ),
    ("demo-child-safety-1", {
        "subject": {"kind": "content", "external_id": "post-2002", "url": "https://forum.example/posts/2002",
                    "text": "[demo: content withheld]", "language": "en",
                    "author": {"external_id": "acct-9001", "display_name": "newuser9001"}},
        "policy": "child_safety",
        "reporter": {"kind": "trusted_flagger", "external_id": "ngo-safe-kids"},
        "description": "Grooming attempt towards a minor, see the linked conversation.",
        "jurisdiction": ["FR", "EU"],
    }),
    ("demo-automated-1", {
        "subject": {"kind": "content", "external_id": "comment-3003", "url": "https://forum.example/c/3003",
                    "text": "[demo: slur-laden comment]", "language": "en",
                    "author": {"external_id": "acct-5150"}},
        "policy": "hate",
        "reporter": {"kind": "automated", "external_id": "toxicity-classifier-v3"},
        "classifier_score": 0.93,
    }),
)


DEMO_IMAGES = ("shapes-circle.svg", "shapes-triangle.svg", "shapes-squares.svg")  # static/demo/, made for the demo


def media_report(origin: str) -> tuple[tuple[str, dict], ...]:
    """A demo report whose subject carries the demo images served by Quorum at `origin`."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise CommandError(f"--media-origin: {origin!r} is not an origin like http://127.0.0.1:8000")
    static = settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL
    base = f"{parts.scheme}://{parts.netloc}{static}demo/"
    return ((f"demo-media-{parts.netloc}", {
        "subject": {"kind": "content", "external_id": "post-4004", "url": "https://forum.example/posts/4004",
                    "text": "Look at these pictures, totally legit giveaway, DM me", "language": "en",
                    "author": {"external_id": "acct-888", "display_name": "giveaway_888"},
                    "media": [{"url": base + name, "mime_type": "image/svg+xml"} for name in DEMO_IMAGES]},
        "policy": "spam",
        "reporter": {"kind": "user", "external_id": "user-18"},
        "description": "Posted the same images in every thread.",
    }),)


class Command(BaseCommand):
    help = "Loads demo users, queues, an API client and a few cases (idempotent) and prints the logins and key."

    def add_arguments(self, parser):
        parser.add_argument("--reset-passwords", action="store_true",
                            help="give every demo user a new password (the demo password with DEBUG=true)")
        parser.add_argument("--media-origin", default=None,
                            help="origin Quorum is served from, e.g. http://127.0.0.1:8000: files a demo report whose "
                                 "media are the harmless demo images under /static/demo/ there (add the origin to "
                                 "CONSOLE_MEDIA_ORIGINS to see them blurred in the console)")
        parser.add_argument("--key-file", type=Path, default=None,
                            help="where the demo API key is kept (default: <QUORUM_VAR_DIR>/demo-api-key.txt)")

    def handle(self, *args, reset_passwords=False, key_file=None, media_origin=None, **options):
        self.actor = Actor.system("demo data")
        key_file = key_file or Path(settings.VAR_DIR) / "demo-api-key.txt"
        self._policy_book()
        self._queues()
        logins = self._users(reset_passwords=reset_passwords)
        self._teams()
        self._workflows()
        client, key = self._api_client(key_file)
        filed = self._cases(client, DEMO_REPORTS + (media_report(media_origin) if media_origin else ()))

        out = self.stdout.write
        out("")
        out(self.style.MIGRATE_HEADING("Demo logins (Django admin and console):"))
        for username, group, password in logins:
            out(f"  {username:<12} {group:<17} {password}")
        for team, members, queues in DEMO_TEAMS:
            out(f"  queue(s) {', '.join(queues)} restricted to {team}: {', '.join(members)}")
        out(self.style.MIGRATE_HEADING(f"Demo API client {client.name} (source {client.source.name}, "
                                       f"scopes {','.join(client.scopes)}):"))
        out(f"  key: {key}")
        out(f"  (kept in {key_file})")
        out(self.style.MIGRATE_HEADING("Demo cases:"))
        out(f"  {filed} report(s) filed now; {Case.objects.count()} case(s) and {Report.objects.count()} report(s) "
            "in the database")

    # ---- configuration -------------------------------------------------------

    def _policy_book(self):
        existing = set(Policy.objects.values_list("code", flat=True))
        for code, name, description, severity, category in DEFAULT_POLICIES:
            if code not in existing:
                policy_save(policy=Policy(code=code, name=name, description=description, severity=severity,
                                          dsa_category=category), actor=self.actor)
        if not Queue.objects.filter(is_default=True).exists():
            slug, name, description = DEFAULT_QUEUE
            queue = Queue.objects.filter(slug=slug).first() or Queue(
                slug=slug, name=name, description=description, name_translations={"de": DEMO_QUEUE_NAMES_DE[slug]})
            queue.is_default = True
            queue_save(queue=queue, actor=self.actor)

    def _queues(self):
        existing = set(Queue.objects.values_list("slug", flat=True))
        for slug, name, description, codes in DEMO_QUEUES:
            if slug in existing:
                continue
            policies = list(Policy.objects.filter(code__in=codes))
            queue_save(queue=Queue(slug=slug, name=name, description=description,
                                   name_translations={"de": DEMO_QUEUE_NAMES_DE[slug]} if slug in DEMO_QUEUE_NAMES_DE else {}),
                       actor=self.actor, policies=policies)
        # New queues take their policies' cases from the next report on, in this process too.
        invalidate_configuration_cache()

    # ---- people --------------------------------------------------------------

    def _users(self, *, reset_passwords):
        """Returns [(username, group, password or a note)]. Users and groups
        have no service of their own: they are written here, in one
        transaction with the audit event that lists what changed."""
        User = get_user_model()
        logins, passwords = [], {}
        changes = {"groups_created": [], "users_created": [], "users_changed": []}
        with transaction.atomic():
            groups = {}
            for name in ROLE_GROUPS:
                groups[name], created = Group.objects.get_or_create(name=name)
                if created:
                    changes["groups_created"].append(name)
            for username, group_name, staff in DEMO_USERS:
                user = User.objects.select_for_update().filter(username=username).first()
                created = user is None
                password = None
                if created or reset_passwords:
                    password = DEMO_PASSWORD if settings.DEBUG else secrets.token_urlsafe(12)
                    passwords[username] = password
                changed = []
                if created:
                    user = User.objects.create_user(username=username, email=f"{username}@quorum.invalid",
                                                    password=password, is_staff=staff, is_superuser=staff)
                else:
                    if password is not None:
                        user.set_password(password)
                        changed.append("password")
                    if user.is_staff != staff or user.is_superuser != staff:
                        user.is_staff = user.is_superuser = staff
                        changed += ["is_staff", "is_superuser"]
                    if changed:
                        user.save(update_fields=changed)
                if not user.groups.filter(pk=groups[group_name].pk).exists():
                    user.groups.add(groups[group_name])
                    changed.append("groups")
                if created:
                    changes["users_created"].append({"username": username, "group": group_name, "is_staff": staff,
                                                     "is_superuser": staff})
                elif changed:
                    changes["users_changed"].append({"username": username, "fields": changed})
            if any(changes.values()):
                audit.record(stream=SYSTEM_STREAM, action=AuditAction.DEMO_DATA_LOADED, actor=self.actor,
                             target_type="demo_data", target_id="users", data=changes)
        for username, group_name, _staff in DEMO_USERS:
            password = passwords.get(username)
            if password is not None:
                note = password if settings.DEBUG else f"{password}  (shown once)"
            elif settings.DEBUG and User.objects.get(username=username).check_password(DEMO_PASSWORD):
                note = DEMO_PASSWORD
            else:
                note = "(password unchanged; --reset-passwords sets a new one)"
            logins.append((username, group_name, note))
        return logins

    def _teams(self):
        """Creates each demo team's group with its members and, when the group
        is new, restricts its queues to it (queue_save audits that). A team
        that exists is left as an admin may have changed it, except that
        missing demo members are put back, like the role groups."""
        User = get_user_model()
        for team, members, queue_slugs in DEMO_TEAMS:
            with transaction.atomic():
                group, created = Group.objects.get_or_create(name=team)
                added = []
                for username in members:
                    user = User.objects.get(username=username)
                    if not user.groups.filter(pk=group.pk).exists():
                        user.groups.add(group)
                        added.append(username)
                if created or added:
                    audit.record(stream=SYSTEM_STREAM, action=AuditAction.DEMO_DATA_LOADED, actor=self.actor,
                                 target_type="demo_data", target_id=f"team:{team}",
                                 data={"group_created": created, "members_added": added})
                if created:
                    for queue in Queue.objects.filter(slug__in=queue_slugs):
                        queue_save(queue=queue, actor=self.actor, restricted_to=[group])

    def _workflows(self):
        """The default review workflows, so that the demo cases are routed to
        a first stage (publishing needs the reviewer groups to have members)."""
        from reviews.workflows import install_default_workflows

        install_default_workflows(actor=self.actor)
        # The DSA mappings, public reasons and notice templates for the default outcomes and policies.
        from dsa.defaults import install_default_dsa_mappings

        install_default_dsa_mappings(actor=self.actor)

    # ---- the platform --------------------------------------------------------

    def _api_client(self, key_file):
        """Returns (client, key): the active demo client whose key is in
        key_file, or else a new client (older demo clients are revoked)."""
        from integrations.models import ApiClient
        from integrations.services import api_client_create, api_client_revoke, hash_key, parse_key

        demo_clients = ApiClient.objects.filter(name__regex=CLIENT_NAME_REGEX)
        stored = _read_key(key_file)
        prefix = parse_key(stored) if stored else None
        if prefix is not None:
            client = demo_clients.filter(key_prefix=prefix, active=True).select_related("source").first()
            if client is not None and client.key_hash == hash_key(stored):
                return client, stored
        for client in demo_clients.filter(active=True):
            api_client_revoke(client_id=client.pk, actor=self.actor)
        taken = set(demo_clients.values_list("name", flat=True))
        name, n = CLIENT_NAME, 1
        while name in taken:
            n += 1
            name = f"{CLIENT_NAME}-{n}"
        client, key = api_client_create(name=name, scopes=list(CLIENT_SCOPES), actor=self.actor,
                                        source_name=CLIENT_NAME)
        _write_key(key_file, key)
        return client, key

    def _cases(self, client, reports):
        """Files the demo reports through the intake use case, exactly as the
        API would; returns how many were filed now (the rest were replays)."""
        from cases.errors import IdempotencyConflict
        from integrations.api.serializers import ReportInSerializer, to_report_input
        from reviews.intake import report_intake

        actor = self.actor
        filed = 0
        for idempotency_key, body in reports:
            serializer = ReportInSerializer(data=body)
            if not serializer.is_valid():
                # E.g. an admin deactivated the policy: skip this one, keep the rest.
                self.stderr.write(f"demo report {idempotency_key} skipped: {serializer.errors}")
                continue
            item = to_report_input(serializer.validated_data, raw=body, idempotency_key=idempotency_key)
            try:
                result = report_intake(source=client.source, api_client_id=client.pk, actor=actor, item=item)
            except IdempotencyConflict:
                # Filed earlier from an older version of this file: keep what is there.
                continue
            filed += 0 if result.replayed else 1
        return filed


def _read_key(path):
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _write_key(path, key):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    os.replace(tmp, path)
