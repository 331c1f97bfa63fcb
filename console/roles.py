"""What a console user may do, from their groups (moderator, senior
moderator, admin, auditor). Computed once per request and cached on it."""
from dataclasses import dataclass

from django.conf import settings

MODERATOR = "moderator"
SENIOR = "senior_moderator"
ADMIN = "admin"
AUDITOR = "auditor"


@dataclass(frozen=True)
class Roles:
    groups: frozenset
    is_superuser: bool = False

    @property
    def is_auditor(self):
        return AUDITOR in self.groups

    @property
    def is_lead(self):
        """Seniors and admins: escalations, approvals, assigning seats, holds."""
        return self.is_superuser or bool(self.groups & set(settings.REVIEW_LEAD_GROUPS))

    @property
    def is_admin(self):
        return self.is_superuser or ADMIN in self.groups

    @property
    def can_review(self):
        """May claim seats and vote. Auditors only read, whatever else they are."""
        if self.is_auditor and not self.is_superuser:
            return False
        return bool(self.groups - {AUDITOR}) or self.is_superuser

    @property
    def can_read_everything(self):
        """Auditors and leads see every case, queue and the audit trail."""
        return self.is_auditor or self.is_lead

    @property
    def can_see_dashboard(self):
        return self.is_lead or self.is_auditor

    @property
    def can_use_console(self):
        return bool(self.groups & {MODERATOR, SENIOR, ADMIN, AUDITOR}) or self.is_superuser


def roles_of(request_or_user):
    user = getattr(request_or_user, "user", request_or_user)
    if user is None:  # e.g. a DRF page rendered for an unauthenticated API caller
        return Roles(frozenset())
    cached = getattr(user, "_console_roles", None)
    if cached is None:
        if not user.is_authenticated:
            cached = Roles(frozenset())
        else:
            cached = Roles(frozenset(user.groups.values_list("name", flat=True)), user.is_superuser)
        user._console_roles = cached
    return cached
