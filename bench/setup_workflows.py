"""Installs the default review workflows in the bench database, so that
intake routes every new case to its first stage as in a deployment.
Publishing needs active members in the reviewer groups: a few users with
unusable passwords are created for that."""

import django


def main():
    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from audit.context import Actor
    from reviews.workflows import GROUPS, install_default_workflows

    users = get_user_model()
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in GROUPS}
    for group, count in (("moderator", 3), ("senior_moderator", 2)):
        for i in range(1, count + 1):
            user, created = users.objects.get_or_create(username=f"bench-{group}-{i}")
            if created:
                user.set_unusable_password()
                user.save()
            user.groups.add(groups[group])
    published = install_default_workflows(actor=Actor.system("bench"))
    names = ", ".join(f"{v.workflow.slug} v{v.number}" for v in published) or "already present"
    print(f"installed: {names}")


if __name__ == "__main__":
    main()
