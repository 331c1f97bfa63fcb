import sys

from django.core.management.base import BaseCommand, CommandError

from audit.context import Actor
from cases.models import Policy
from integrations.adapters import registry
from integrations.adapters.models import AdapterConfig, MappingKind
from integrations.adapters.services import (
    AdapterConfigError,
    adapter_config_create,
    adapter_config_update,
    adapter_mappings_set,
)
from integrations.models import ApiClient


class Command(BaseCommand):
    help = ("Connects an API client to a platform's webhooks (or updates the connection). The webhook secret is "
            "read from standard input, so that it never appears in the shell history or the process list.")

    def add_arguments(self, parser):
        parser.add_argument("client", help="name of the API client")
        parser.add_argument("platform", help="e.g. mastodon")
        parser.add_argument("--map", action="append", default=[], metavar="KIND:VALUE=POLICY",
                            help="e.g. category:legal=illegal_goods or rule:3=harassment (repeatable)")
        parser.add_argument("--keep-secret", action="store_true", help="update mappings only; read no secret")
        parser.add_argument("--deactivate", action="store_true")

    def handle(self, *args, client, platform, map, keep_secret, deactivate, **options):
        actor = Actor.system("manage.py configure_adapter")
        api_client = ApiClient.objects.filter(name=client).first()
        if api_client is None:
            raise CommandError(f"no API client named {client!r}")
        if registry.get(platform) is None:
            raise CommandError(f"unknown platform {platform!r}")
        mappings = [self._mapping(entry) for entry in map]
        secret = None if keep_secret or deactivate else sys.stdin.readline().strip()
        config = AdapterConfig.objects.filter(api_client=api_client, platform=platform).first()
        try:
            if config is None:
                if secret is None:
                    raise CommandError("a new connection needs the webhook secret on standard input")
                config = adapter_config_create(api_client=api_client, platform=platform, webhook_secret=secret,
                                               actor=actor, mappings=mappings)
            else:
                adapter_config_update(config_id=config.pk, actor=actor, webhook_secret=secret or None,
                                      active=not deactivate)
                if mappings:
                    current = {(m.kind, m.value): m.policy for m in config.policy_mappings.select_related("policy")}
                    current.update({(k, v): p for k, v, p in mappings})
                    adapter_mappings_set(config_id=config.pk, mappings=[(k, v, p) for (k, v), p in current.items()],
                                         actor=actor)
        except AdapterConfigError as exc:
            raise CommandError(str(exc)) from None
        config.refresh_from_db()
        state = "active" if config.active else "inactive"
        self.stdout.write(f"{platform} → {api_client.name} ({state}); webhook URL path: {config.webhook_path}")
        for mapping in config.policy_mappings.select_related("policy"):
            self.stdout.write(f"  {mapping.kind} {mapping.value} → {mapping.policy.code}")

    def _mapping(self, entry):
        try:
            left, code = entry.split("=", 1)
            kind, value = left.split(":", 1)
        except ValueError:
            raise CommandError(f"--map {entry!r}: expected KIND:VALUE=POLICY") from None
        if kind not in MappingKind.values:
            raise CommandError(f"--map {entry!r}: kind must be one of {', '.join(MappingKind.values)}")
        policy = Policy.objects.filter(code=code).first()
        if policy is None:
            raise CommandError(f"--map {entry!r}: no policy {code!r}")
        return kind, value.strip(), policy
