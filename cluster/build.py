"""Build the cluster's binaries from their Go modules into a cache keyed by the versions.

Kubernetes' own go.mod points its ~30 staging modules at ``./staging/...``; a module that
builds its commands must replace each with the published ``v0.x`` release. etcd is built
from a five-line ``main`` around ``etcdmain.Main``; CoreDNS with ``go install``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

from local_cluster import versions

log = logging.getLogger(__name__)

BINARIES = (*versions.KUBERNETES_COMMANDS, "etcd", "coredns")
_STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", re.MULTILINE)
_ETCD_MAIN = """package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
"""


def cache_root() -> Path:
    """Where built binaries live: outside the repository, shared by every clone."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("LOCAL_CLUSTER_CACHE", Path(base) / "sentiment-operator"))


def bin_dir() -> Path:
    """The versioned folder holding every binary."""
    key = f"k8s-{versions.KUBERNETES}_etcd-{versions.ETCD}_coredns-{versions.COREDNS}"
    return cache_root() / "bin" / key


def missing_binaries() -> list[str]:
    """The binaries not yet built."""
    return [name for name in BINARIES if not (bin_dir() / name).is_file()]


def _go(args: list[str], cwd: Path) -> str:
    log.info("go %s", " ".join(args))
    env = {**os.environ, "GOFLAGS": "-mod=mod -buildvcs=false", "CGO_ENABLED": "0"}
    done = subprocess.run(["go", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return done.stdout.decode()


def _version_ldflags() -> str:
    """Stamp the release in, or every binary says v0.0.0-master and kubectl version fails."""
    major, minor = versions.KUBERNETES.lstrip("v").split(".")[:2]
    stamp = {
        "gitVersion": versions.KUBERNETES,
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {package}.{key}={value}" for key, value in stamp.items()]
    return " ".join(flags)


def _kubernetes_replaces(work: Path) -> list[str]:
    info = json.loads(
        _go(["mod", "download", "-json", f"k8s.io/kubernetes@{versions.KUBERNETES}"], work)
    )
    upstream = Path(info["GoMod"]).read_text()
    return [
        f"replace {module} => {module} {versions.KUBERNETES_STAGING}"
        for module in _STAGING_REPLACE.findall(upstream)
    ]


def build_kubernetes(out: Path) -> None:
    """kube-apiserver, controller-manager, scheduler, proxy and kubectl, stamped."""
    work = cache_root() / "src" / f"kubernetes-{versions.KUBERNETES}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text("module localcluster/kubernetes\n\ngo 1.24\n")
    replaces = _kubernetes_replaces(work)
    (work / "go.mod").write_text(
        "module localcluster/kubernetes\n\ngo 1.24\n\n" + "\n".join(replaces) + "\n"
    )
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in versions.KUBERNETES_COMMANDS]
    _go(["get", "-tool", *[f"{p}@{versions.KUBERNETES}" for p in packages]], work)
    _go(["build", "-trimpath", "-ldflags", _version_ldflags(), "-o", f"{out}/", *packages], work)


def build_etcd(out: Path) -> None:
    """etcd from its server module's etcdmain."""
    work = cache_root() / "src" / f"etcd-{versions.ETCD}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text("module localcluster/etcd\n\ngo 1.24\n")
    (work / "main.go").write_text(_ETCD_MAIN)
    _go(["get", f"go.etcd.io/etcd/server/v3@{versions.ETCD}"], work)
    _go(["mod", "tidy"], work)
    _go(["build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "etcd"), "."], work)


def build_coredns(out: Path) -> None:
    """CoreDNS with its kubernetes plugin (in the default build)."""
    work = cache_root() / "src"
    work.mkdir(parents=True, exist_ok=True)
    gobin = work / f"coredns-{versions.COREDNS}-bin"
    env_args = [
        "install",
        "-trimpath",
        "-ldflags",
        "-s -w",
        f"github.com/coredns/coredns@{versions.COREDNS}",
    ]
    os.environ["GOBIN"] = str(gobin)
    try:
        _go(env_args, work)
    finally:
        os.environ.pop("GOBIN", None)
    shutil.copy2(gobin / "coredns", out / "coredns")


def ensure_built() -> Path:
    """Build what is missing; do nothing when every binary is there."""
    out = bin_dir()
    missing = missing_binaries()
    if not missing:
        return out
    if shutil.which("go") is None:
        raise SystemExit(
            "the local cluster's binaries are built from Go modules: install Go >= 1.24"
        )
    staging = out.with_name(out.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    steps = {"kubernetes": build_kubernetes, "etcd": build_etcd, "coredns": build_coredns}
    wanted = {
        "kubernetes": any(m in versions.KUBERNETES_COMMANDS for m in missing),
        "etcd": "etcd" in missing,
        "coredns": "coredns" in missing,
    }
    for name, step in steps.items():
        if wanted[name]:
            try:
                step(staging)
            except subprocess.CalledProcessError as err:
                tail = err.stderr.decode(errors="replace")[-4000:]
                raise SystemExit(f"building {name} failed:\n{tail}") from None
    out.mkdir(parents=True, exist_ok=True)
    for binary in staging.iterdir():
        binary.replace(out / binary.name)
    return out


def _module_dir(module: str, version: str) -> Path:
    work = cache_root() / "src"
    work.mkdir(parents=True, exist_ok=True)
    info = json.loads(_go(["mod", "download", "-json", f"{module}@{version}"], work))
    return Path(info["Dir"])


def keda_crds() -> list[Path]:
    """KEDA's CRDs as its module ships them (ScaledObject, TriggerAuthentication, ...)."""
    folder = _module_dir("github.com/kedacore/keda/v2", versions.KEDA) / "config/crd/bases"
    return sorted(folder.glob("*.yaml"))


def prometheus_operator_crds() -> list[Path]:
    """The Prometheus Operator's CRDs as its module ships them."""
    module = _module_dir(
        "github.com/prometheus-operator/prometheus-operator", versions.PROMETHEUS_OPERATOR
    )
    return sorted((module / "example/prometheus-operator-crd").glob("*.yaml"))
