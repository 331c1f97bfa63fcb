"""The console ships English and German complete: every translatable string
in the code has a German translation, none is fuzzy, and the compiled
catalogue in the repository is the one the .po file compiles to."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "de" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
SOURCE_DIRS = ("access", "audit", "cases", "signals", "reviews", "rules", "integrations", "console", "config", "trust", "dsa")


def entries(text):
    """[(msgctxt, msgid, msgid_plural, [msgstr...], flags)] from a .po file."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.strip().splitlines() if not ln.startswith("#~")]
        flags = " ".join(ln for ln in lines if ln.startswith("#,"))
        fields, current = {}, None
        for ln in lines:
            if ln.startswith("#"):
                continue
            m = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+"(.*)"$', ln)
            if m:
                current = m.group(1)
                fields[current] = m.group(2)
            elif ln.startswith('"') and current:
                fields[current] += ln[1:-1]
        if "msgid" in fields and fields["msgid"]:
            strs = [v for k, v in sorted(fields.items()) if k.startswith("msgstr")]
            out.append((fields.get("msgctxt"), fields["msgid"], fields.get("msgid_plural"), strs, flags))
    return out


def test_every_german_entry_is_translated_and_not_fuzzy():
    found = entries(PO.read_text(encoding="utf-8"))
    assert len(found) > 100
    missing = [e[1] for e in found if not all(e[3]) or not e[3]]
    fuzzy = [e[1] for e in found if "fuzzy" in e[4]]
    assert missing == [], f"untranslated: {missing[:20]}"
    assert fuzzy == [], f"fuzzy: {fuzzy[:20]}"


def test_catalogue_covers_every_string_in_the_code(tmp_path):
    """Extracts the strings anew in a copy of the code and compares."""
    assert shutil.which("xgettext"), "GNU gettext is needed (apt-get install gettext; .ci/run installs it)"
    for name in (*SOURCE_DIRS, "manage.py"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
        else:
            shutil.copy(src, tmp_path / name)
    (tmp_path / "locale" / "de" / "LC_MESSAGES").mkdir(parents=True)
    subprocess.run([sys.executable, "manage.py", "makemessages", "-l", "de", "--no-obsolete", "--no-location"],
                   cwd=tmp_path, check=True, capture_output=True,
                   env={"DJANGO_SETTINGS_MODULE": "config.test_settings", "PATH": "/usr/bin:/bin"})
    fresh = {(e[0], e[1]) for e in entries((tmp_path / "locale/de/LC_MESSAGES/django.po").read_text("utf-8"))}
    shipped = {(e[0], e[1]) for e in entries(PO.read_text("utf-8"))}
    assert sorted(fresh - shipped) == [], "strings missing from locale/de: run `make messages` and translate them"


def test_compiled_catalogue_is_current(tmp_path):
    assert shutil.which("msgfmt"), "GNU gettext is needed (apt-get install gettext; .ci/run installs it)"
    out = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(out), str(PO)], check=True, capture_output=True)
    assert out.read_bytes() == MO.read_bytes(), "locale/de/LC_MESSAGES/django.mo is stale: run `make messages`"


def test_german_is_active_for_german_users():
    with translation.override("de"):
        assert translation.gettext("Sign out") != "Sign out"
        assert translation.gettext("My work") != "My work"
