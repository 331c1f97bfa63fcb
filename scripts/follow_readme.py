"""Follows README.md on a clean copy of the checkout, exactly as written.

Copies the tracked (and untracked, not ignored) files into a temporary
directory — no .env, no var/ — and there:

1. starts the README's `make run` line in the background (PORT set to a free
   port, which the README documents, so a dev server on 8000 is left alone)
   and waits for its banner;
2. runs every other ```sh block of the README, in order, verbatim, in one new
   bash (`set -euo pipefail`) whose environment holds only PATH, HOME, LANG
   and PORT: no DEBUG, no SECRET_KEY, nothing `make run` exported;
3. checks the report the README files gets the priority the README shows;
4. stops `make run` with SIGINT (Ctrl-C, as the README says) and checks that
   the web server, worker and beat it started are gone.

`make test` lines are skipped (this runs from CI next to `make test`). The
copy uses the checkout's virtualenv (`VENV`, default .venv) through a symlink:
building one with requirements-dev.txt is `make`'s job and is covered by CI's
own run; tests/ops/test_requirements_only.py builds one from requirements.txt.

Exit status 0 when everything worked; otherwise 1 with the logs.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
SKIPPED = re.compile(r"^make test\b")
BACKGROUND = re.compile(r"^make run\b")


def fail(message: str, *logs: Path) -> None:
    print(f"follow_readme: FAILED: {message}", file=sys.stderr)
    for log in logs:
        if log.exists():
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-8000:]}", file=sys.stderr)
    sys.exit(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_copy(dest: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    venv = (ROOT / os.environ.get("VENV", ".venv")).resolve()
    (dest / ".venv").symlink_to(venv)


def readme_commands(text: str) -> tuple[list[str], list[str]]:
    """(lines started in the background, blocks run in the shell)."""
    background, blocks = [], []
    for match in BLOCK.finditer(text):
        kept = []
        for line in match.group(1).splitlines():
            command = line.strip()
            if BACKGROUND.match(command):
                background.append(command)
            elif not SKIPPED.match(command):
                kept.append(line)
        if any(line.strip() and not line.strip().startswith("#") for line in kept):
            blocks.append("\n".join(kept))
    return background, blocks


def main() -> None:
    started = time.monotonic()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    background, blocks = readme_commands(readme)
    if background != ["make run    # fresh machine with only Python: .venv, migrate, demo data, web + Celery worker + beat"]:
        fail(f"expected one `make run` line in the README, found {background}")
    work = Path(tempfile.mkdtemp(prefix="quorum-readme-"))
    checkout, home = work / "quorum", work / "home"
    checkout.mkdir(), home.mkdir()
    clean_copy(checkout)
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "PORT": str(port)}
    run_log, shell_log = work / "make-run.log", work / "shell.log"
    print(f"== follow_readme: clean copy in {checkout}, PORT={port}")

    with open(run_log, "wb") as log:
        run = subprocess.Popen(["bash", "-c", background[0]], cwd=checkout, env=env, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    child_pids: list[int] = []
    try:
        deadline = time.monotonic() + 600
        while "Quorum is running" not in run_log.read_text(errors="replace"):
            if run.poll() is not None:
                fail(f"`make run` exited with {run.returncode} before its banner", run_log)
            if time.monotonic() > deadline:
                fail("no banner from `make run` within 10 minutes", run_log)
            time.sleep(0.5)
        output = run_log.read_text(errors="replace")
        child_pids = [int(pid) for pid in re.findall(r"== started \w+ \(pid (\d+)\)", output)]
        banner = output.index("Quorum is running")
        ready = output.find(" ready.")
        if ready < 0 or ready > banner:
            fail("the banner came before the worker was ready", run_log)
        if "moderator1" not in output[banner:] or "quorum-demo" not in output[banner:]:
            fail("the banner does not list the demo logins", run_log)

        script = ["set -euo pipefail"]
        for index, block in enumerate(blocks):
            out = work / f"block-{index}.out"
            script += [f"echo '$ block {index}' >&2", f"{{\n{block}\n}} >{out} 2>&1", f"cat {out}"]
        shell = subprocess.run(["bash", "-c", "\n".join(script)], cwd=checkout, env=env, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=600)
        shell_log.write_text(shell.stdout + shell.stderr)
        if shell.returncode != 0:
            failed = shell.stderr.strip().splitlines()[-1] if shell.stderr.strip() else "?"
            number = int(failed.split()[-1]) if failed.startswith("$ block") else -1
            detail = (work / f"block-{number}.out").read_text(errors="replace") if number >= 0 else ""
            fail(f"README block {number} exited with {shell.returncode}:\n{blocks[number] if number >= 0 else ''}"
                 f"\n--- its output\n{detail}", run_log)

        # The report the README files gets the priority the README shows after it.
        shown = int(re.search(r'"priority": (\d+)', readme).group(1))
        for index, block in enumerate(blocks):
            if "/api/v1/reports" in block:
                answer = json.loads((work / f"block-{index}.out").read_text())
                if answer["case"]["priority"] != shown:
                    fail(f"the README shows priority {shown}, the server answered {answer['case']['priority']}")
                break
        else:
            fail("no README block files a report")
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
            try:
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                # Evidence for whoever looks next: what each process of `make run` was doing.
                ps = subprocess.run(["ps", "-eo", "pid,ppid,pgid,stat,wchan:20,etime,args"], capture_output=True,
                                    text=True)
                groups = {str(run.pid), *map(str, child_pids)}
                print("--- processes of `make run` at the timeout (pid ppid pgid stat wchan etime args)\n"
                      + "\n".join(line for line in ps.stdout.splitlines()[1:] if line.split()[2] in groups),
                      file=sys.stderr)
                os.killpg(run.pid, signal.SIGKILL)
                run.wait(timeout=10)
                fail("`make run` did not stop within 60 s of Ctrl-C", run_log)
        left = []
        for pid in child_pids:
            try:
                os.killpg(pid, 0)
                left.append(pid)
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if left:
            fail(f"processes of `make run` still running after Ctrl-C: {left}", run_log)
    shutil.rmtree(work, ignore_errors=True)
    print(f"== follow_readme: {len(blocks)} README blocks ran as written; "
          f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
