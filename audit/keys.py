"""The keys that audit hashes are computed under.

Event and checkpoint hashes are HMAC-SHA256 under a key that lives outside the
database (environment or key file, see config/settings.py): whoever can write
to the database but does not hold the key cannot compute a valid hash for an
altered or forged event. Every keyed event and checkpoint records the id of
its key, so keys can be rotated: new entries use the current key, old keys
stay in the ring to verify what they signed.

A key id of "" is the legacy scheme (plain SHA-256, before keys existed);
audit.verify accepts it only where the first keyed checkpoint sealed it.
"""

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

KEY_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
MIN_SECRET_LENGTH = 32


class KeyringError(ValueError):
    pass


@dataclass(frozen=True)
class AuditKeyring:
    """Secrets by key id, and the id that signs new entries."""

    current_id: str
    secrets: dict[str, bytes]
    _macs: dict[str, hmac.HMAC] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.current_id not in self.secrets:
            raise KeyringError(f"the current audit key {self.current_id!r} is not in the key ring")

    def mac(self, key_id: str) -> hmac.HMAC:
        """An HMAC-SHA256 object keyed with `key_id`, to be .copy()'d per
        message: the key schedule (inner and outer pads) is computed once."""
        mac = self._macs.get(key_id)
        if mac is None:
            secret = self.secrets.get(key_id)
            if secret is None:
                raise KeyError(key_id)
            mac = self._macs[key_id] = hmac.new(secret, digestmod=hashlib.sha256)
        return mac

    def __repr__(self) -> str:  # never print secrets
        return f"AuditKeyring(current_id={self.current_id!r}, ids={sorted(self.secrets)!r})"


def parse_key_entries(text: Iterable[str], *, source: str, separator: str) -> dict[str, bytes]:
    """`id<separator>secret` entries; secrets are taken as UTF-8 text and must
    be at least 32 characters long (e.g. `secrets.token_urlsafe(32)`)."""
    keys: dict[str, bytes] = {}
    for number, raw in enumerate(text, start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, secret = entry.partition(separator)
        key_id, secret = key_id.strip(), secret.strip()
        if not sep or not KEY_ID_RE.fullmatch(key_id):
            raise KeyringError(f"{source} entry {number} is not '<id>{separator}<secret>' with an id of "
                               f"1-32 letters, digits, '_', '.', '-'")
        if len(secret) < MIN_SECRET_LENGTH:
            raise KeyringError(f"{source} key {key_id!r} is shorter than {MIN_SECRET_LENGTH} characters")
        if key_id in keys:
            raise KeyringError(f"{source} lists key {key_id!r} twice")
        keys[key_id] = secret.encode("utf-8")
    return keys


def build_keyring(*, env_keys: str, key_file: str, current_id: str, fallback_secret: str | None) -> AuditKeyring:
    """The key ring from AUDIT_HMAC_KEYS ("id:secret,id:secret"), the lines
    "id secret" of AUDIT_HMAC_KEY_FILE, and AUDIT_HMAC_KEY_ID (default: the
    last key listed). With no key at all, `fallback_secret` (DEBUG only)
    gives a development key "dev"; otherwise it is an error."""
    keys: dict[str, bytes] = {}
    if env_keys:
        keys.update(parse_key_entries(env_keys.split(","), source="AUDIT_HMAC_KEYS", separator=":"))
    if key_file:
        path = Path(key_file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise KeyringError(f"AUDIT_HMAC_KEY_FILE {key_file!r} cannot be read: {exc.strerror}") from None
        for key_id, secret in parse_key_entries(lines, source="AUDIT_HMAC_KEY_FILE", separator=" ").items():
            if key_id in keys and keys[key_id] != secret:
                raise KeyringError(f"key {key_id!r} differs between AUDIT_HMAC_KEYS and AUDIT_HMAC_KEY_FILE")
            keys[key_id] = secret
    if not keys:
        if fallback_secret is None:
            raise KeyringError("AUDIT_HMAC_KEYS or AUDIT_HMAC_KEY_FILE must give at least one audit key "
                               "(docs/security.md)")
        keys["dev"] = hmac.new(fallback_secret.encode("utf-8"), b"quorum-audit-dev-key", hashlib.sha256).hexdigest().encode()
    if current_id:
        if current_id not in keys:
            raise KeyringError(f"AUDIT_HMAC_KEY_ID={current_id!r} is not one of the configured keys")
    else:
        current_id = list(keys)[-1]
    return AuditKeyring(current_id=current_id, secrets=keys)


def keyring() -> AuditKeyring:
    from django.conf import settings

    return settings.AUDIT_KEYRING
