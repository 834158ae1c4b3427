"""What a container image would bring, for the images this project builds.

There is no image store here: the project's own images, recognised by repository name
(``…/model-server``, ``…/operator``, whatever registry or owner precedes it), run from
the project's environment with the ENTRYPOINT, CMD, ENV, WORKDIR and USER of their
Dockerfile's final stage. Any other image runs only with a ``command``.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: Repository name (last path part) -> the Dockerfile that builds it.
PROJECT_IMAGES = {"model-server": "Dockerfile.server", "operator": "Dockerfile.operator"}
#: Where the images install the project; it maps to this environment's prefix.
IMAGE_VENV = "/opt/venv"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ENV_REF = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image's config that decide how its container starts."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str | None = None
    #: ``/etc/passwd`` lines the image's ``useradd`` steps add.
    passwd: tuple[str, ...] = ()
    #: ``/etc/group`` lines the image's ``groupadd`` steps add.
    group: tuple[str, ...] = ()


def repository(image: str) -> str:
    """``ghcr.io/owner/model-server:0.1@sha256:…`` -> ``model-server``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def _expand_env(value: str, env: dict[str, str]) -> str:
    return _ENV_REF.sub(lambda m: env.get(m[1] or m[2], ""), value)


_ACCOUNT_COMMAND = re.compile(r"\b(useradd|groupadd)\s+([^&;|]+)")


def _accounts(run: str) -> tuple[list[str], list[str]]:
    """The passwd and group lines of the ``useradd`` and ``groupadd`` in a RUN step."""
    passwd, group = [], []
    for command, arguments in _ACCOUNT_COMMAND.findall(run):
        words = shlex.split(arguments)
        pairs = itertools.pairwise(words)
        options = {flag: value for flag, value in pairs if flag.startswith("-")}
        name = words[-1]
        if command == "groupadd":
            group.append(f"{name}:x:{options.get('--gid', options.get('-g', ''))}:")
        else:
            uid = options.get("--uid", options.get("-u", ""))
            gid = options.get("--gid", options.get("-g", uid))
            home = options.get("--home-dir", options.get("-d", "/"))
            shell = options.get("--shell", options.get("-s", "/bin/sh"))
            passwd.append(f"{name}:x:{uid}:{gid}::{home}:{shell}")
    return passwd, group


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


def _exec_form(value: str) -> tuple[str, ...]:
    if value.startswith("["):
        return tuple(json.loads(value))
    return ("/bin/sh", "-c", value)


def parse_dockerfile(text: str) -> ImageConfig:
    """The final stage's ENTRYPOINT, CMD, ENV, WORKDIR and USER."""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: dict[str, str] = {"PATH": DEFAULT_PATH}
    workdir, user = "/", None
    passwd: list[str] = []
    group: list[str] = []
    for line in _logical_lines(text):
        keyword, _, value = line.partition(" ")
        keyword, value = keyword.upper(), value.strip()
        if keyword == "FROM":
            entrypoint, cmd, env, workdir, user = (), (), {"PATH": DEFAULT_PATH}, "/", None
            passwd, group = [], []
        elif keyword == "RUN":
            users, groups = _accounts(value)
            passwd += users
            group += groups
        elif keyword == "ENTRYPOINT":
            entrypoint, cmd = _exec_form(value), ()
        elif keyword == "CMD":
            cmd = _exec_form(value)
        elif keyword == "WORKDIR":
            workdir = value
        elif keyword == "USER":
            user = value
        elif keyword == "ENV":
            for pair in shlex.split(value):
                key, _, val = pair.partition("=")
                env[key] = _expand_env(val, env)
    return ImageConfig(entrypoint, cmd, env, workdir, user, tuple(passwd), tuple(group))


def project_image(image: str, repo_root: Path) -> ImageConfig | None:
    """The config of one of the project's images, mapped onto this environment; else None."""
    dockerfile = PROJECT_IMAGES.get(repository(image))
    if dockerfile is None or not (repo_root / dockerfile).is_file():
        return None
    config = parse_dockerfile((repo_root / dockerfile).read_text())
    prefix = str(Path(sys.prefix))
    env = {key: value.replace(IMAGE_VENV, prefix) for key, value in config.env.items()}
    env.setdefault("PATH", f"{prefix}/bin:{DEFAULT_PATH}")
    return ImageConfig(
        config.entrypoint, config.cmd, env, config.workdir, config.user, config.passwd, config.group
    )
