"""The master parses one ``/invocations`` row before it forks, so workers share MLflow's
parsers instead of each importing them on its first ``/invocations`` (~18 MiB each)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

SCRIPT = """
import sys
from mlflow.types import ColSpec, Schema
from model_server.invocations import warm_up
before = "mlflow.pyfunc.scoring_server" in sys.modules
warm_up("review", Schema([ColSpec("string", "{column}")]))
print(before, "mlflow.pyfunc.scoring_server" in sys.modules)
"""


def _run(column: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(column=column)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    return done.stdout.split()


def test_warming_up_imports_mlflows_parsers_in_this_process() -> None:
    assert _run("review") == ["False", "True"]


def test_a_schema_the_row_does_not_fit_is_no_error() -> None:
    """The model reads another column: the row is refused (422) inside, and start-up goes on."""
    assert _run("text") == ["False", "True"]
