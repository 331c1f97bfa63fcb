from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor
from integrations.models import SCOPES, ApiClient
from integrations.services import ScopeError, api_client_create, api_client_revoke


class Command(BaseCommand):
    help = "Creates an API client and prints its key once; --revoke disables an existing client."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--scopes", default="reports:write,cases:read",
                            help=f"comma-separated, from: {', '.join(sorted(SCOPES))}")
        parser.add_argument("--source", help="the platform the client acts for (default: the client's name)")
        parser.add_argument("--rate", type=int, help="sustained requests per second")
        parser.add_argument("--burst", type=int, help="requests allowed in a burst")
        parser.add_argument("--revoke", action="store_true", help="disable the client NAME")

    def handle(self, *args, name, scopes, source, rate, burst, revoke, **options):
        actor = Actor.system("manage.py create_api_client")
        if revoke:
            client = ApiClient.objects.filter(name=name).first()
            if client is None:
                raise CommandError(f"no API client named {name!r}")
            api_client_revoke(client_id=client.pk, actor=actor)
            self.stdout.write(f"revoked API client {name}")
            return
        if ApiClient.objects.filter(name=name).exists():
            raise CommandError(f"an API client named {name!r} already exists")
        for label, value in (("--rate", rate), ("--burst", burst)):
            if value is not None and value < 1:
                raise CommandError(f"{label} must be at least 1")
        try:
            client, key = api_client_create(
                name=name, scopes=[s.strip() for s in scopes.split(",") if s.strip()], actor=actor,
                source_name=source, rate_per_second=rate, burst=burst,
            )
        except ScopeError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"API client {client.name} (source {client.source.name}, scopes {','.join(client.scopes)})")
        self.stdout.write("key (shown once, store it now):")
        self.stdout.write(key)
