"""docs/integrating.md is executable: every ```sh block runs, in order, in
bash with real curl (and jq) against a live Quorum on 127.0.0.1, with QUORUM
and KEY set to that server and the key the guide's create_api_client prints.
Variables a block assigns (CASE_ID=..., SINCE=...) carry over to later blocks.

Markers in HTML comments before a block:
  <!-- test: skip ... -->           the block is for the reader only
  <!-- test: decide VAR ... -->     moderators decide the case whose id is in VAR first
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test.testcases import LiveServerThread, _StaticFilesHandler

from tests.processes import database_url

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "integrating.md"
ROOT = GUIDE.parents[1]
_BLOCK = re.compile(r"(?:<!--\s*test:\s*(?P<marker>[^>]*?)\s*-->\s*\n)?```sh\n(?P<code>.*?)```", re.S)
_ASSIGNED = re.compile(r"^\s*(?:export\s+)?([A-Z][A-Z0-9_]*)=", re.M)
_STATE = "__guide_state__"


def guide_blocks():
    return [(m.group("marker") or "", m.group("code")) for m in _BLOCK.finditer(GUIDE.read_text(encoding="utf-8"))]


def test_the_guide_has_the_documented_sections_and_examples():
    text = GUIDE.read_text(encoding="utf-8")
    for heading in ("Create an API client", "File a report", "Read the case", "Learn the decision",
                    "File an appeal", "Receive and verify a webhook"):
        assert re.search(rf"^## \d\. {heading}$", text, re.M), heading
    assert "(webhooks.md)" in text
    codes = [code for _marker, code in guide_blocks()]
    assert any("POST \"$QUORUM/api/v1/reports\"" in c for c in codes)
    assert any("/api/v1/decisions?since=$SINCE" in c for c in codes)
    assert any("/appeals" in c for c in codes)


@pytest.fixture
def live_quorum():
    """A real HTTP server on 127.0.0.1 (Django's live server thread) serving
    the project, on the test database (the tests commit: transaction=True)."""
    thread = LiveServerThread("127.0.0.1", _StaticFilesHandler, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    try:
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.terminate()


def _run(code, state, env):
    """Runs one block in bash; returns (completed process, variables it assigned)."""
    assigned = sorted(set(_ASSIGNED.findall(code)))
    script = ["set -euo pipefail"]
    script += [f"{name}={json.dumps(value)}" for name, value in state.items()]
    script.append(code)
    script.append(f"echo {_STATE}")
    script += [f'printf "%s=%s\\n" {name} "${{{name}}}"' for name in assigned]
    result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    out, _, tail = result.stdout.partition(f"{_STATE}\n")
    variables = dict(line.split("=", 1) for line in tail.splitlines() if "=" in line)
    result.stdout = out
    return result, variables


@pytest.mark.django_db(transaction=True)
def test_every_example_of_the_guide_runs_against_a_live_server(live_quorum, policy_book, workflows, decide):
    from cases.models import Case, Report
    from reviews.models import Appeal

    env = {**os.environ, "QUORUM": live_quorum, "DATABASE_URL": database_url(),
           "DJANGO_SETTINGS_MODULE": "config.test_settings", "PYTHONPATH": str(ROOT)}
    env.pop("KEY", None)
    venv_python = ROOT / ".venv" / "bin" / "python"
    state, ran = {}, 0
    blocks = guide_blocks()
    assert len(blocks) >= 8, blocks
    for marker, code in blocks:
        if marker.startswith("skip"):
            continue
        if marker.startswith("decide"):
            variable = marker.split()[1]
            assert decide(state[variable]) is not None, f"the case in {variable} got no decision"
        if "manage.py" in code and not venv_python.exists():
            code = code.replace(".venv/bin/python", sys.executable)
        result, variables = _run(code, state, env)
        assert result.returncode == 0, f"block failed ({result.returncode}):\n{code}\n--- stdout\n{result.stdout}\n" \
                                       f"--- stderr\n{result.stderr}"
        state.update(variables)
        if "create_api_client" in code:
            keys = [line for line in result.stdout.splitlines() if line.startswith("qrm_")]
            assert len(keys) == 1, result.stdout
            env["KEY"] = keys[0]
        ran += 1

    assert ran >= 8
    # What the examples did, seen from the database.
    case = Case.objects.get(pk=state["CASE_ID"])
    assert Report.objects.filter(case=case).count() == 1  # the second filing was a replay
    assert Report.objects.get(case=case).idempotency_key == "my-forum-report-2291"
    assert Appeal.objects.filter(case=case, appellant_external_id="user-9").count() == 1
    assert state["SINCE"]


@pytest.mark.django_db(transaction=True)
def test_the_decision_poll_of_the_guide_shows_the_decision(live_quorum, policy_book, workflows, decide):
    """The poll after the decision returns it (checked on the block's output)."""
    env = {**os.environ, "QUORUM": live_quorum, "DATABASE_URL": database_url(),
           "DJANGO_SETTINGS_MODULE": "config.test_settings"}
    from audit.context import Actor
    from integrations.services import api_client_create

    _client, env["KEY"] = api_client_create(name="my-forum", scopes=["reports:write", "cases:read", "appeals:write"],
                                            actor=Actor.system("tests"))
    blocks = [code for marker, code in guide_blocks() if not marker.startswith("skip") and "manage.py" not in code]
    filing = next(code for code in blocks if code.lstrip().startswith("CASE_ID="))
    first_poll = next(code for code in blocks if code.lstrip().startswith("SINCE="))
    poll = next(code for code in blocks if "decisions?since=$SINCE" in code)
    state = {}
    for code in (filing, first_poll):
        result, variables = _run(code, state, env)
        assert result.returncode == 0, result.stderr
        state.update(variables)
    empty, _ = _run(poll, state, env)
    assert empty.returncode == 0 and empty.stdout.split() == [json.dumps(state["SINCE"]), "false"]
    decide(state["CASE_ID"])
    result, _ = _run(poll, state, env)
    assert result.returncode == 0, result.stderr
    assert f'"case_id": "{state["CASE_ID"]}"' in result.stdout
    assert '"event": "decision.made"' in result.stdout and '"outcome": "remove_content"' in result.stdout
