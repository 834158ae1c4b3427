"""A gevent worker told to stop while it still boots stops (it used to keep serving)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.model_server.sample_model import RegisteredModel
from tests.model_server.servers import ModelServer, model_server, server_env
from tests.support.processes import wait_http

pytestmark = pytest.mark.integration


def _booted_after(server: ModelServer, known: set[int], timeout: float) -> int:
    """The PID of the first worker the log says is booting that is not in ``known``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in map(int, re.findall(r"Booting worker with pid: (\d+)", server.log())):
            if pid not in known:
                return pid
        time.sleep(0.001)
    raise TimeoutError(f"no new worker booted:\n{server.log()[-3000:]}")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a dead child the master has not reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_worker_told_to_stop_while_it_boots_stops(
    tmp_path: Path, registered_model: RegisteredModel
) -> None:
    env = server_env(tmp_path, registered_model.uri, registered_model.tracking_uri)
    with model_server(tmp_path, env) as server:
        (first,) = server.worker_pids()
        os.kill(first, signal.SIGKILL)  # the master forks a replacement at once
        booting = _booted_after(server, {first}, timeout=30)
        # The moment its boot is logged: gevent's patching, a tenth of a second or more, is
        # still ahead of it, and gunicorn installs the worker's signal handlers only after.
        os.kill(booting, signal.SIGTERM)
        deadline = time.monotonic() + 10  # a worker with nothing to finish exits in ~1 s
        while _alive(booting) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(booting), f"worker {booting} ignored SIGTERM sent while it booted"
        # The master replaces it in turn, and the server serves on.
        _booted_after(server, {first, booting}, timeout=30)
        wait_http(f"{server.url}/readyz", timeout=30, process=server.process)
        assert booting not in server.worker_pids()
