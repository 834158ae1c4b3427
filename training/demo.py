"""``make demo``: train, register, promote and serve the model on embedded defaults.

Runs the DVC pipeline (``dvc repro``), points the alias ``champion`` at the new
version, starts the model server on ``models:/NAME@champion`` and shows a ``curl``
that works. ``--source`` (a local CSV on a machine without a network) is written to
``ingest.source`` in ``params.yaml`` first, so DVC sees the change like any other
param. With a terminal the server keeps serving until Ctrl-C; without one (CI) it stops.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from mlflow import MlflowClient

from training.errors import UserError, run_command
from training.params import DEFAULT_PARAMS_PATH, load_params
from training.registry import promote
from training.tracking import configure_tracking

CHAMPION = "champion"
SAMPLE_REVIEW = "One of the best films I have seen this year: moving, funny and beautifully shot."


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _environment() -> dict[str, str]:
    # Stage commands call `python`: make it this interpreter's.
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def set_source(source: str, path: Path = DEFAULT_PARAMS_PATH) -> None:
    """Write ``source`` to ``ingest.source`` in ``params.yaml`` (a param DVC tracks)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if raw["ingest"]["source"] == source:
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for number, line in enumerate(lines):
        if line.startswith("  source:"):
            lines[number] = f"  source: {json.dumps(source)}\n"
            break
    path.write_text("".join(lines), encoding="utf-8")
    if yaml.safe_load(path.read_text(encoding="utf-8"))["ingest"]["source"] != source:
        raise UserError(f"could not set ingest.source in {path}: edit it by hand")
    print(f"ingest.source in {path} is now {source}", flush=True)


def reproduce(env: dict[str, str]) -> None:
    """Run the pipeline: whatever changed, params included."""
    command = [_bin("dvc"), "repro"]
    print(f"$ dvc {shlex.join(command[1:])}", flush=True)
    if subprocess.run(command, env=env, check=False).returncode != 0:
        raise UserError("the pipeline failed (see above)")


def wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    """Wait for ``/readyz`` of the model server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise UserError(f"the model server exited with {server.returncode} (see above)")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise UserError(f"the model server was not ready within {timeout:.0f}s")


def show_curl(url: str) -> None:
    """Print a curl command and what it answers."""
    body = json.dumps({"text": SAMPLE_REVIEW})
    command = [
        "curl",
        "-s",
        "-X",
        "POST",
        f"{url}/predict",
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
    ]
    print(f"\n$ {shlex.join(command)}", flush=True)
    if shutil.which("curl"):
        subprocess.run(command, check=True)
        print()
        return
    request = urllib.request.Request(  # noqa: S310 - loopback URL built above
        f"{url}/predict", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        print(response.read().decode())


def serve(model_uri: str, tracking_uri: str, port: int, keep_serving: bool) -> None:
    """Start the model server on ``model_uri``, show a prediction, then stop or keep going."""
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MODEL_URI": model_uri,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WORKERS": "2",
    }
    print(
        f"\n$ MODEL_URI={model_uri} MLFLOW_TRACKING_URI={tracking_uri} PORT={port} "
        "python -m model_server",
        flush=True,
    )
    server = subprocess.Popen([sys.executable, "-m", "model_server"], env=env)
    try:
        wait_ready(url, server)
        show_curl(url)
        print(f"\nOpen {url}/ to try reviews, {url}/metrics for Prometheus metrics.")
        if keep_serving:
            print("Serving until Ctrl-C.", flush=True)
            server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait(timeout=30)


def _main(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8080")))
    parser.add_argument("--no-serve", action="store_true", help="stop after promotion")
    parser.add_argument("--source", help="set ingest.source (a CSV path or URL) first")
    args = parser.parse_args(argv)

    if args.source:
        set_source(args.source)
    reproduce(_environment())
    params = load_params()
    target = configure_tracking()
    name = params.register.model_name
    registration = json.loads(Path("reports/registration.json").read_text(encoding="utf-8"))
    if not registration.get("registered", True):
        raise UserError(
            "the pipeline's last run registered nothing (a dvc experiment): "
            "run `dvc repro --force --single-item register`"
        )
    promotion = promote(MlflowClient(), name, version=str(registration["version"]), alias=CHAMPION)
    print(f"\n{promotion.describe()}")
    metrics = json.loads(Path("reports/metrics.json").read_text(encoding="utf-8"))
    print(f"Registry: {target.describe()}")
    print(
        f"Model:    models:/{name}/{promotion.version} (run {registration['run_id']}), "
        f"held-out accuracy {metrics['accuracy']:.4f}"
    )
    if not args.no_serve:
        serve(f"models:/{name}@{CHAMPION}", target.uri, args.port, keep_serving=sys.stdin.isatty())


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    return run_command(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
