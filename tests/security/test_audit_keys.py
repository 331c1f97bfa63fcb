"""Audit keys come from the environment or a key file, parsed strictly:
production refuses to start without one, and every malformed entry is named."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from audit.keys import KeyringError, build_keyring

GOOD = "a" * 32


def start(**env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AUDIT_", "DJANGO_"))}
    base.update(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="false", SECRET_KEY="k" * 60, **env)
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=settings.BASE_DIR, env=base,
                          capture_output=True, text=True, timeout=60)


def test_production_refuses_to_start_without_an_audit_key():
    result = start()
    assert result.returncode == 2
    assert "Quorum configuration error: AUDIT_HMAC_KEYS or AUDIT_HMAC_KEY_FILE must give at least one audit key" \
        in result.stderr


def test_production_starts_with_a_key_file(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"# retired\nold {GOOD}\nnew {'b' * 40}\n")
    result = start(AUDIT_HMAC_KEY_FILE=str(keys))
    assert result.returncode == 0, result.stderr
    ring = build_keyring(env_keys="", key_file=str(keys), current_id="", fallback_secret=None)
    assert ring.current_id == "new" and set(ring.secrets) == {"old", "new"}
    assert GOOD not in repr(ring)  # secrets never printed


@pytest.mark.parametrize("env_keys, current, message", [
    ("k1:short", "", "shorter than 32"),
    (f"k1{GOOD}", "", "is not '<id>:<secret>'"),
    (f"bad id:{GOOD}", "", "is not '<id>:<secret>'"),
    (f"k1:{GOOD},k1:{GOOD}", "", "lists key 'k1' twice"),
    (f"k1:{GOOD}", "k2", "AUDIT_HMAC_KEY_ID='k2' is not one of the configured keys"),
])
def test_malformed_keys_are_named(env_keys, current, message):
    with pytest.raises(KeyringError, match=message):
        build_keyring(env_keys=env_keys, key_file="", current_id=current, fallback_secret=None)


def test_an_unreadable_key_file_is_named(tmp_path):
    with pytest.raises(KeyringError, match="cannot be read"):
        build_keyring(env_keys="", key_file=str(tmp_path / "missing"), current_id="", fallback_secret=None)


def test_debug_without_keys_derives_a_development_key_from_the_secret_key():
    one = build_keyring(env_keys="", key_file="", current_id="", fallback_secret="s" * 50)
    two = build_keyring(env_keys="", key_file="", current_id="", fallback_secret="t" * 50)
    assert one.current_id == "dev" and one.secrets["dev"] != two.secrets["dev"]
