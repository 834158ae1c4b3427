"""One container of a pod: how it starts, its process, its state as the API shows it."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_cluster import sandbox
from local_cluster.environment import ConfigError, expand
from local_cluster.images import DEFAULT_PATH, ImageConfig
from local_cluster.probes import Probe

BACKOFF_START, BACKOFF_MAX = 10.0, 300.0
#: A container that ran this long without crashing starts its back-off afresh.
BACKOFF_RESET = 600.0


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _numeric_user(user: str | None) -> tuple[int | None, int | None]:
    if not user:
        return None, None
    name, _, group = user.partition(":")
    if not name.isdigit() or (group and not group.isdigit()):
        raise ConfigError(f"image USER {user!r} is not numeric")
    return int(name), int(group) if group else None


def identity(
    container: Mapping[str, Any], pod_spec: Mapping[str, Any], image: ImageConfig | None
) -> tuple[int, int]:
    """The uid and gid: the container's securityContext, the pod's, the image's, else nobody."""
    ctx = container.get("securityContext") or {}
    pod_ctx = pod_spec.get("securityContext") or {}
    image_uid, image_gid = _numeric_user(image.user if image else None)
    uid = ctx.get("runAsUser", pod_ctx.get("runAsUser", image_uid))
    uid = sandbox.NOBODY if uid is None else int(uid)
    gid = ctx.get("runAsGroup", pod_ctx.get("runAsGroup", image_gid))
    gid = (uid if image_uid is None and uid != 0 else sandbox.NOBODY) if gid is None else int(gid)
    if uid == 0 and ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")):
        raise ConfigError("container has runAsNonRoot and image will run as root")
    return uid, gid


def command_line(container: Mapping[str, Any], image: ImageConfig | None) -> list[str]:
    """Kubernetes' rules: ``command`` replaces the ENTRYPOINT, ``args`` the CMD."""
    command, args = container.get("command"), container.get("args")
    if command:
        return [*command, *(args or [])]
    if image is None:
        raise LookupError("no command")
    return [*image.entrypoint, *(args if args is not None else image.cmd)]


@dataclass
class ContainerRun:
    """A container's process and what the API says of it."""

    spec: Mapping[str, Any]
    log_dir: Path
    restart_count: int = 0
    process: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    started_monotonic: float = 0.0
    waiting: tuple[str, str] = ("ContainerCreating", "")
    terminated: dict[str, Any] | None = None
    last_state: dict[str, Any] = field(default_factory=dict)
    next_start: float = 0.0
    consecutive_crashes: int = 0
    ready: bool = False
    started: bool = False
    probes: dict[str, Probe] = field(default_factory=dict)
    uid: int = sandbox.NOBODY
    gid: int = sandbox.NOBODY
    env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, argv: Sequence[str], env: Mapping[str, str], uid: int, gid: int) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{self.restart_count}.log"
        env = {"PATH": DEFAULT_PATH, **env}
        command = [expand(part, env) for part in argv]
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=dict(env), start_new_session=True,
            )  # fmt: skip
        self.uid, self.gid, self.env = uid, gid, dict(env)
        self.started_at, self.started_monotonic = now_iso(), time.monotonic()
        self.terminated, self.ready, self.started = None, False, False
        now = time.monotonic()
        self.probes = {
            kind: Probe(self.spec[f"{kind}Probe"], started_at=now)
            for kind in ("startup", "readiness", "liveness")
            if self.spec.get(f"{kind}Probe")
        }
        if "startup" not in self.probes:
            self.started = True

    def exited(self) -> int | None:
        """The exit code once the process has ended (128+signal when killed)."""
        if self.process is None:
            return None
        code = self.process.poll()
        if code is None:
            return None
        return 128 - code if code < 0 else code

    def record_exit(self, code: int, *, reason: str | None = None) -> None:
        self.terminated = {
            "exitCode": code,
            "reason": reason or ("Completed" if code == 0 else "Error"),
            "startedAt": self.started_at,
            "finishedAt": now_iso(),
            "containerID": self.container_id,
        }
        ran = time.monotonic() - self.started_monotonic
        self.consecutive_crashes = 1 if ran > BACKOFF_RESET else self.consecutive_crashes + 1
        self.process, self.ready, self.started = None, False, False

    def schedule_restart(self) -> None:
        delay = min(BACKOFF_START * 2 ** (self.consecutive_crashes - 1), BACKOFF_MAX)
        self.next_start = time.monotonic() + delay
        self.last_state = {"terminated": dict(self.terminated or {})}
        self.restart_count += 1
        self.waiting = (
            "CrashLoopBackOff",
            f"back-off {delay:.0f}s restarting failed container={self.name}",
        )
        self.terminated = None

    @property
    def container_id(self) -> str:
        return f"local://{self.process.pid}" if self.process else ""

    def signal_all(self, signum: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def stop(self, grace: float) -> int:
        """SIGTERM, then SIGKILL after ``grace`` seconds; the exit code."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(max(grace, 0.0))
        except subprocess.TimeoutExpired:
            self.signal_all(signal.SIGKILL)
            self.process.wait()
        self.signal_all(signal.SIGKILL)  # what the container left behind
        code = self.exited()
        return 137 if code is None else code

    def status(self, image: str) -> dict[str, Any]:
        state: dict[str, Any]
        if self.running:
            state = {"running": {"startedAt": self.started_at}}
        elif self.terminated is not None:
            state = {"terminated": self.terminated}
        else:
            reason, message = self.waiting
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        status = {
            "name": self.name,
            "image": image,
            "imageID": "",
            "ready": self.ready,
            "started": self.started and self.running,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": self.last_state,
        }
        if self.running:
            status["containerID"] = self.container_id
        return status
