"""Command line: ``run`` the operator, ``render`` a resource offline, print the ``crd``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from sentiment_operator import manifest, yamlio
from sentiment_operator.crd import build_crd
from sentiment_operator.render import Owner, render_children
from sentiment_operator.rules import valid_label_value
from sentiment_operator.settings import OperatorSettings
from sentiment_operator.spec import API_VERSION, KIND, SentimentModelSpec, SpecError, parse_spec

CRD_HEADER = (
    "# Generated from the pydantic models in operator/spec.py by\n"
    "#   python -m sentiment_operator crd > crds/sentimentmodel.yaml\n"
    "# Do not edit: tests/operator/test_crd.py fails when this file is out of date.\n"
)


def crd_text() -> str:
    """The CRD as committed in ``crds/sentimentmodel.yaml``."""
    return CRD_HEADER + yamlio.dump(build_crd())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentiment-operator",
        description="Serve MLflow-registered sentiment models on Kubernetes.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator against the current cluster")
    scope = run.add_mutually_exclusive_group(required=True)
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NS",
        help="watch this namespace (repeatable; glob patterns allowed)",
    )
    run.add_argument(
        "--liveness",
        metavar="URL",
        help="serve a liveness endpoint, e.g. http://0.0.0.0:8080/healthz",
    )

    render = commands.add_parser(
        "render", help="print every child object of a SentimentModel, without a cluster"
    )
    render.add_argument(
        "-f", "--filename", required=True, help="SentimentModel YAML file ('-' for stdin)"
    )
    render.add_argument(
        "--version", dest="model_version", help="model version to pin; skips the registry"
    )
    render.add_argument(
        "--tracking-uri", help="resolve the version here instead of spec.registry.trackingUri"
    )
    render.add_argument(
        "-n", "--namespace", default="default", help="namespace when the file names none"
    )

    commands.add_parser("crd", help="print the CustomResourceDefinition YAML")
    return parser


def _run(args: argparse.Namespace) -> int:
    from sentiment_operator import runner  # kopf and the API client load only here

    runner.run(
        namespaces=args.namespaces or [],
        clusterwide=args.all_namespaces,
        liveness_endpoint=args.liveness,
    )
    return 0


class ResolveError(Exception):
    """The registry could not turn the stage or alias into a version."""


def _resolve(spec: SentimentModelSpec, tracking_uri: str | None, timeout_seconds: float) -> str:
    from sentiment_operator import mlflow_rest, registry  # only when a registry is asked

    mlflow_rest.configure(timeout_seconds=timeout_seconds)
    try:
        return registry.resolve_version(
            tracking_uri or spec.registry.tracking_uri,
            spec.model.name,
            stage=spec.model.stage,
            alias=spec.model.alias,
        )
    except registry.RegistryError as error:
        raise ResolveError(str(error)) from error


def _render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        resources = manifest.sentiment_models(manifest.read(args.filename, sys.stdin))
    except manifest.ManifestError as error:
        err.write(f"error: {args.filename}: {error}\n")
        return 1
    if not resources:
        err.write(f"error: {args.filename} holds no {KIND}\n")
        return 1
    if args.model_version is not None and not valid_label_value(args.model_version):
        err.write(f"error: --version {args.model_version!r} is not a label value, e.g. 3\n")
        return 1
    settings = OperatorSettings()
    children: list[dict[str, Any]] = []
    for resource in resources:
        name = resource.name
        try:
            spec = parse_spec(resource.spec or {})
        except SpecError as error:
            err.write(f"error: {KIND} {name}: {error}\n")
            return 1
        try:
            version = args.model_version or _resolve(
                spec, args.tracking_uri, settings.registry_timeout_seconds
            )
        except ResolveError as error:
            err.write(f"error: {KIND} {name}: {error} (--version N renders without a registry)\n")
            return 1
        owner = Owner(
            api_version=API_VERSION,
            kind=KIND,
            name=name,
            namespace=resource.namespace or args.namespace,
            uid=resource.uid,
        )
        rendered = render_children(owner, spec, version, settings)
        if not owner.uid:
            # A reference to a uid that does not exist would make the cluster's garbage
            # collector delete the children as soon as they were applied.
            for child in rendered:
                del child["metadata"]["ownerReferences"]
            err.write(f"note: {KIND} {name} has no metadata.uid: ownerReferences omitted\n")
        children.extend(rendered)
    out.write(yamlio.dump_all(children))
    return 0


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Parse ``argv`` and run one command; returns the process exit code."""
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    err = err or sys.stderr
    if args.command == "run":
        return _run(args)
    if args.command == "render":
        return _render(args, out, err)
    out.write(crd_text())
    return 0
