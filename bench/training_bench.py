"""Training benchmark: the whole ``dvc repro`` on the full IMDB file, timed, and its accuracy.

Runs in a temporary clone of this working tree with the default ``params.yaml``
except ``ingest.source`` (the shared 25,000-review file), against the embedded
MLflow store of that clone. Prints the wall time of every stage and of the whole
run, the held-out metrics, and the size of the saved model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared/datasets/imdb/train.csv.gz"


def _clone(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if name != "dvc.lock" and source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)


def _stage_times(marks: list[tuple[str, float]], finished: float) -> dict[str, float]:
    ends = [at for _, at in marks[1:]] + [finished]
    return {stage: round(end - at, 1) for (stage, at), end in zip(marks, ends, strict=True)}


def run(data: Path) -> dict[str, object]:
    """Reproduce the pipeline once; return the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-train-") as folder:
        clone = Path(folder)
        _clone(clone)
        params = yaml.safe_load((clone / "params.yaml").read_text())
        params["ingest"]["source"] = str(data)
        (clone / "params.yaml").write_text(yaml.safe_dump(params))
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("MLFLOW_", "DAGSHUB_", "SENTIMENT_DATA"))
        }
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("dvc")), "repro"],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        marks: list[tuple[str, float]] = []
        lines: list[str] = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Running stage"):
                marks.append((line.split("'")[1], time.perf_counter()))
        if process.wait() != 0:
            sys.stdout.write("".join(lines))
            raise SystemExit("dvc repro failed")
        finished = time.perf_counter()
        total = finished - started
        metrics = json.loads((clone / "reports/metrics.json").read_text())
        model_bytes = sum(f.stat().st_size for f in (clone / "models/sentiment").rglob("*"))
        return {
            "dvc_repro_seconds": round(total, 1),
            "stage_seconds": _stage_times(marks, finished),
            "metrics": metrics,
            "model_megabytes": round(model_bytes / 2**20, 1),
        }


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m bench --only training``."""
    parser = argparse.ArgumentParser(prog="python -m bench --only training")
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("IMDB_TRAIN_CSV", DEFAULT_DATA))
    )
    args, _ = parser.parse_known_args(argv)
    figures = run(args.data)
    figures["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
