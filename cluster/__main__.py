"""``python -m local_cluster``: build, up, down, shell, and the in-namespace daemons."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from local_cluster import build, lifecycle, versions
from local_cluster.layout import Layout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local-cluster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build the binaries into the cache (nothing when built)")
    commands.add_parser("up", help="start the cluster; print NETNS= and KUBECONFIG=")
    commands.add_parser("down", help="stop the cluster and remove everything it made")
    commands.add_parser("shell", help="a shell inside the cluster's network namespace")
    commands.add_parser("versions", help="print the pinned versions as NAME=VERSION lines")
    commands.add_parser("bin-dir", help="print where the binaries are")
    commands.add_parser("supervise", help=argparse.SUPPRESS)
    agent = commands.add_parser("node-agent", help=argparse.SUPPRESS)
    agent.add_argument("--kubeconfig", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )  # fmt: skip
    layout = Layout.default()
    try:
        return _dispatch(args, layout)
    except lifecycle.ClusterError as error:
        print(f"local-cluster: {error}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, layout: Layout) -> int:
    if args.command == "build":
        print(build.ensure_built())
    elif args.command == "bin-dir":
        print(build.bin_dir())
    elif args.command == "versions":
        print("\n".join(f"{k}={v}" for k, v in versions.all_pins().items()))
    elif args.command == "up":
        lifecycle.up(layout)
        sys.stdout.write(lifecycle.announce(layout))
    elif args.command == "down":
        lifecycle.down(layout)
    elif args.command == "shell":
        return _shell(layout)
    elif args.command == "supervise":
        from local_cluster.control_plane import supervise

        return supervise(layout)
    elif args.command == "node-agent":
        from local_cluster.node_agent import run_agent

        return run_agent(layout, args.kubeconfig)
    return 0


def _shell(layout: Layout) -> int:
    if not lifecycle.is_up(layout):
        raise lifecycle.ClusterError("the cluster is not up: run `make cluster-up` first")
    env = {
        **os.environ,
        "KUBECONFIG": str(layout.kubeconfig),
        "PATH": f"{build.bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
        "PS1": f"({layout.netns}) \\w# ",
    }
    shell = os.environ.get("SHELL", "/bin/bash")
    os.execvpe("ip", ["ip", "netns", "exec", layout.netns, shell], env)  # noqa: S606
    return 0


if __name__ == "__main__":
    sys.exit(main())
