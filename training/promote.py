"""``promote``: move a registered model version to a stage and/or an alias.

This is the action that rolls a deployment forward: the operator follows the
alias (or the deprecated stage) that a ``SentimentModel`` names. With neither
``--alias`` nor ``--stage`` it moves the alias ``champion``.
"""

from __future__ import annotations

import argparse

from mlflow import MlflowClient

from training.errors import run_command
from training.registry import promote
from training.tracking import configure_tracking

DEFAULT_ALIAS = "champion"


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="sentiment-promote", description=__doc__)
    parser.add_argument("--model", default="imdb-sentiment", help="registered model name")
    parser.add_argument("--version", help="version to promote (default: the newest)")
    parser.add_argument("--alias", help=f"alias to point at the version (default: {DEFAULT_ALIAS})")
    parser.add_argument("--stage", help="deprecated MLflow stage: Staging, Production or Archived")
    parser.add_argument(
        "--keep-existing",
        action="store_true",
        help="do not archive the versions that held the stage",
    )
    args = parser.parse_args(argv)
    alias = args.alias if args.alias or args.stage else DEFAULT_ALIAS
    target = configure_tracking()
    promotion = promote(
        MlflowClient(),
        args.model,
        version=args.version,
        stage=args.stage,
        alias=alias,
        archive_existing=not args.keep_existing,
    )
    print(f"{promotion.describe()} [{target.describe()}]")


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
