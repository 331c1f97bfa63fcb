"""What a platform adapter is.

An adapter knows one platform's webhook format and nothing about how Quorum
stores reports: it checks the signature, then turns the payload into Filings,
each one the body of a `POST /api/v1/reports` request plus an idempotency
key. The generic view validates and files them exactly as the REST API would.
"""

from dataclasses import dataclass, field

from rest_framework import serializers


@dataclass(frozen=True)
class Filing:
    """One report a foreign payload asks for.

    `body` has the shape of a `POST /api/v1/reports` body (policy as a code).
    `idempotency_key` is derived from the platform's own ids, so a redelivered
    webhook files nothing new. `paths` names, for a prefix of a body field,
    where it came from in the payload ({"subject.text": "object.statuses.0.content"}),
    so that errors point at the platform's fields."""

    body: dict
    idempotency_key: str
    paths: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Parsed:
    """What a delivery means: the event name, the platform's id for the thing
    reported (`reference`) and the reports to file. `ignored` is true for
    events the adapter does not file anything for."""

    event: str
    reference: str = ""
    filings: tuple = ()
    ignored: bool = False


class PolicyMap:
    """An adapter configuration's mapping of platform values to active
    policies: {(kind, value): Policy}, e.g. {("category", "spam"): <spam>}.
    `fallback` is the policy for anything unmapped."""

    def __init__(self, entries, fallback):
        self._entries = {key: policy for key, policy in entries.items() if policy.active}
        self.fallback = fallback

    def get(self, kind, value):
        return self._entries.get((kind, str(value)))


class Adapter:
    """Subclass it in a module of its own and list the module in
    registry.PLATFORM_MODULES.

    - `platform`: the URL segment, /api/v1/adapters/<platform>/<client>.
    - `signature_header`: the HTTP header carrying the signature.
    - `payload_serializer`: documents the request body in the OpenAPI schema.
    - `mapping_kinds`: {kind: help} of the values admins map to policies.
    - `default_mappings`: {(kind, value): policy code}, seeded into each new
      configuration (admins edit them in the Django admin).
    """

    platform = ""
    title = ""
    signature_header = ""
    signature_description = ""
    payload_serializer = None
    mapping_kinds = {}
    default_mappings = {}
    description = ""

    def verify(self, *, secret, headers, body):
        """True when `body` (bytes, as received) carries a valid signature made with `secret`."""
        raise NotImplementedError

    def parse(self, *, payload, policies):
        """A Parsed for the decoded JSON `payload`, using `policies` (a
        PolicyMap). Raises rest_framework ValidationError, with the payload's
        own field names, when the payload is malformed."""
        raise NotImplementedError


def invalid(path, message):
    """A ValidationError naming one dotted payload path."""
    return serializers.ValidationError({path: [message]} if path else [message])
