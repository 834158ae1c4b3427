"""How one container is started: its network namespace, its own mounts, its user.

Each container runs ``ip netns exec POD unshare --mount --uts`` around a small shell
script that binds the pod's volumes, resolv.conf and hosts file in, gives ``/dev/shm``
a tmpfs of its own, remounts the root read-only and ``exec``s the command through
``setpriv`` as the container's user. Every mount is private to that container.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Unprivileged identity for a container that names no user ("nobody").
NOBODY = 65534
#: The accounts of a minimal base image: what a container sees in /etc/passwd and /etc/group.
BASE_PASSWD = ("root:x:0:0:root:/root:/bin/sh", f"nobody:x:{NOBODY}:{NOBODY}:nobody:/:/bin/false")
BASE_GROUP = ("root:x:0:", f"nogroup:x:{NOBODY}:")


@dataclass(frozen=True)
class Mount:
    """A bind mount into the container."""

    source: Path
    target: str
    read_only: bool = False


def _hidden_ancestor(path: Path) -> Path | None:
    """The first ancestor that other users cannot traverse (e.g. a 0700 /root)."""
    for ancestor in reversed(path.parents):
        if ancestor == Path("/"):
            continue
        try:
            if not os.stat(ancestor).st_mode & stat.S_IXOTH:
                return ancestor
        except OSError:
            return None
    return None


def runtime_paths(repo_root: Path) -> list[Path]:
    """What the project's environment needs to be readable: Python, the venv, the source."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), repo_root.resolve()}
    return sorted(paths)


def launch_script(
    *,
    stash: Path,
    mounts: Sequence[Mount],
    hostname: str,
    workdir: str,
    uid: int,
    gid: int,
    expose: Sequence[Path],
) -> str:
    """The shell script run in the container's fresh mount and UTS namespaces."""
    q = shlex.quote
    lines = ["set -e"]
    # The project's environment must stay reachable: under a folder others cannot enter
    # (Python under a 0700 /root), or under a volume's mount path (a clone under /tmp
    # with an emptyDir at /tmp). Each path is bound to a stash first, the hidden folders
    # are covered by an empty tmpfs, the volumes are mounted, then each path is bound back.
    slots = [(stash / str(index), path) for index, path in enumerate(expose)]
    for slot, path in slots:
        lines += [f"mkdir -p {q(str(slot))}", f"mount --bind {q(str(path))} {q(str(slot))}"]
    for ancestor in sorted({a for a in map(_hidden_ancestor, expose) if a is not None}):
        lines.append(f"mount -t tmpfs -o mode=0755,size=1m tmpfs {q(str(ancestor))}")
    for mount in mounts:
        target = q(mount.target)
        if mount.source.is_dir():
            lines.append(f"mkdir -p {target}")
        else:
            lines.append(f"[ -e {target} ] || {{ mkdir -p $(dirname {target}); : > {target}; }}")
        lines.append(f"mount --bind {q(str(mount.source))} {target}")
        if mount.read_only:
            lines.append(f"mount -o remount,bind,ro {target}")
    for slot, path in slots:
        lines += [f"mkdir -p {q(str(path))}", f"mount --bind {q(str(slot))} {q(str(path))}"]
    lines += [
        "mount -t tmpfs -o mode=1777,size=64m tmpfs /dev/shm",
        f"hostname {q(hostname[:63])}",
        "mount -o remount,bind,ro /",
        f"cd {q(workdir)}",
        f'exec setpriv --reuid {uid} --regid {gid} --clear-groups -- "$@"',
    ]
    return "\n".join(lines) + "\n"


def launch_argv(pod_netns: str, script: Path, command: Sequence[str]) -> list[str]:
    """The argv that starts the container; its process becomes the container's."""
    return [
        "ip", "netns", "exec", pod_netns, "unshare", "--mount", "--uts",
        "--propagation", "private", "--", "/bin/sh", str(script), *command,
    ]  # fmt: skip


def exec_argv(pid: int, uid: int, gid: int, command: Sequence[str]) -> list[str]:
    """Run ``command`` inside a running container (exec probes and hooks)."""
    return [
        "nsenter", "--target", str(pid), "--net", "--mount", "--uts", "--",
        "setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups", "--", *command,
    ]  # fmt: skip
