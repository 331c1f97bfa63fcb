"""gunicorn settings Quorum always runs with. gunicorn reads ./gunicorn.conf.py
from the directory it starts in, so `gunicorn config.wsgi` in the project (the
Dockerfile, docker-compose.yml, bench/) gets these without naming the file.

- No control socket: gunicorn 27 opens one at a fixed path under the user's
  home by default, which two servers on one host (two checkouts, bench next to
  a dev server) would share.
- prometheus_client multiprocess mode: each worker writes its own metric files
  into PROMETHEUS_MULTIPROC_DIR and /metrics adds them up. Unless the
  environment names a directory, each gunicorn gets a fresh private one,
  removed when it exits; files of a dead worker are marked dead (gauges).
"""

import os
import shutil
import tempfile

control_socket_disable = True

_created_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Set before any worker imports prometheus_client (workers fork after this file is read).
    _created_dir = tempfile.mkdtemp(prefix="quorum-prometheus-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _created_dir


def on_starting(server):
    # A named directory may hold files of an earlier run: start from zero, as a restarted process would.
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _created_dir:
        shutil.rmtree(_created_dir, ignore_errors=True)
