"""User-facing failures of the pipeline commands: one clear line, no stack trace."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

log = logging.getLogger("training")


class UserError(Exception):
    """A problem the user can fix (bad input, bad params, unreachable service).

    The message names the problem and the fix; it is printed as one line.
    """


def run_command(command: Callable[[list[str] | None], None], argv: list[str] | None = None) -> int:
    """Run a pipeline command; turn a ``UserError`` into one line on stderr and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        command(argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        # An unreachable or refusing MLflow server is the user's to fix, not a crash.
        from mlflow.exceptions import MlflowException

        if not isinstance(error, MlflowException):
            raise
        print(f"error: MLflow: {error.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
