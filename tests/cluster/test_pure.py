"""The node agent's pure parts: image configs, command lines, environments, identities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from local_cluster import images, sandbox
from local_cluster.containers import command_line, identity
from local_cluster.environment import ConfigError, container_env, expand
from local_cluster.sandbox import NOBODY

ROOT = Path(__file__).resolve().parents[2]


def test_the_project_dockerfiles_give_entrypoint_cmd_env_workdir_and_user() -> None:
    server = images.project_image("ghcr.io/someone/model-server:1.2", ROOT)
    operator = images.project_image("registry.example/x/y/operator@sha256:abc", ROOT)
    assert server is not None
    assert operator is not None
    assert server.entrypoint == ("python", "-m", "model_server")
    assert server.user == "10001:10001"
    assert server.env["PATH"].split(":")[0].endswith("/bin")
    assert "/opt/venv" not in server.env["PATH"]
    assert operator.cmd == ("run", "--all-namespaces")
    assert images.project_image("nginx:1.29", ROOT) is None
    assert images.project_image("ghcr.io/x/model-server-extra:1", ROOT) is None


def test_dockerfile_parsing_takes_the_last_stage_and_expands_env() -> None:
    config = images.parse_dockerfile(
        'FROM a AS build\nENTRYPOINT ["wrong"]\nFROM b\nENV A=1 \\\n    B=$A/x\n'
        "WORKDIR /w\nUSER 5\nCMD echo hi\n"
    )
    assert config.entrypoint == ()
    assert config.cmd == ("/bin/sh", "-c", "echo hi")
    assert config.env["B"] == "1/x"
    assert (config.workdir, config.user) == ("/w", "5")


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        ({}, ["ep", "cmd"]),
        ({"args": ["a"]}, ["ep", "a"]),
        ({"command": ["c"]}, ["c"]),
        ({"command": ["c"], "args": ["a"]}, ["c", "a"]),
    ],
)
def test_command_replaces_the_entrypoint_and_args_the_cmd(
    container: dict[str, Any], expected: list[str]
) -> None:
    image = images.ImageConfig(entrypoint=("ep",), cmd=("cmd",))
    assert command_line(container, image) == expected


def test_an_image_without_config_needs_a_command() -> None:
    with pytest.raises(LookupError):
        command_line({"image": "nginx"}, None)


def test_identity_prefers_container_then_pod_then_image_and_never_root_by_default() -> None:
    image = images.ImageConfig(user="10001:10001")
    assert identity({}, {}, None) == (NOBODY, NOBODY)
    assert identity({}, {}, image) == (10001, 10001)
    assert identity({}, {"securityContext": {"runAsUser": 7}}, image) == (7, 10001)
    assert identity({"securityContext": {"runAsUser": 8, "runAsGroup": 9}}, {}, image) == (8, 9)
    with pytest.raises(ConfigError):
        identity({"securityContext": {"runAsUser": 0, "runAsNonRoot": True}}, {}, None)


def test_env_resolves_sources_in_order_and_expands_references() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": {}}
    secrets = {"s": {"k": b"v"}}
    container = {
        "envFrom": [{"secretRef": {"name": "s"}, "prefix": "S_"}],
        "env": [
            {"name": "A", "value": "$(S_k)-$(missing)-$$"},
            {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {
                "name": "C",
                "valueFrom": {"secretKeyRef": {"name": "gone", "key": "x", "optional": True}},
            },
        ],
    }
    env = container_env(
        pod, container, {"PATH": "/bin"}, lambda _n, name: secrets.get(name), lambda *_: None
    )
    assert env["A"] == "v-$(missing)-$"
    assert env["B"] == "ns"
    assert "C" not in env
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    with pytest.raises(ConfigError, match='secret "gone" not found'):
        container_env(
            pod,
            {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "x"}}}]},
            {}, lambda *_: None, lambda *_: None,
        )  # fmt: skip
    assert expand("$(A)$(B)", {"A": "1"}) == "1$(B)"


def test_the_users_an_image_adds_are_in_its_passwd_and_group() -> None:
    operator = images.project_image("ghcr.io/x/operator:1", ROOT)
    assert operator is not None
    assert operator.passwd == ("sentiment:x:10001:10001::/tmp:/usr/sbin/nologin",)
    assert operator.group == ("sentiment:x:10001:",)
    config = images.parse_dockerfile("FROM a\nRUN useradd -u 5 bob && echo hi\nFROM b\n")
    assert config.passwd == ()


def test_the_environment_is_bound_back_after_a_volume_covers_its_folder(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    script = sandbox.launch_script(
        stash=tmp_path / "stash", mounts=[sandbox.Mount(volume, "/tmp")], hostname="p",
        workdir="/", uid=1, gid=1, expose=[Path("/tmp/clone/.venv")],
    )  # fmt: skip
    lines = script.splitlines()
    volume_at = lines.index(f"mount --bind {volume} /tmp")
    stashed = lines.index(f"mount --bind /tmp/clone/.venv {tmp_path}/stash/0")
    restored = lines.index(f"mount --bind {tmp_path}/stash/0 /tmp/clone/.venv")
    assert stashed < volume_at < restored
    assert lines.index("mount -o remount,bind,ro /") > restored
