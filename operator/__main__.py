"""``python -m sentiment_operator`` and the ``sentiment-operator`` console script."""

from __future__ import annotations

import sys

from sentiment_operator.cli import main as cli_main


def main() -> None:
    """Run the command line and exit with its status."""
    sys.exit(cli_main())


if __name__ == "__main__":
    main()
