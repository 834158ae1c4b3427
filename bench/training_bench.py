"""Training benchmark: the whole ``dvc repro`` on the full IMDB file, timed, and its accuracy.

Runs in a temporary clone of this working tree with the default ``params.yaml``
except ``ingest.source``, against the embedded MLflow store of that clone. Prints the
wall time of every stage and of the whole run, the held-out metrics, the size of the
saved model and the load average before and after.

``--source csv`` (default): the shared 25,000-review file, a single CSV (its grouped
hold-out is scored by a refit on the train split, then the model trains on all of it:
two fits). ``--source stanford``: the default source's path (one fit), on an archive
in the Stanford layout built from the same file: its 25,000 reviews as the train half
and a marked copy of them as the test half. That archive's accuracy means nothing
(the test half is the train half); its timings are those of the real archive's size.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pandas as pd
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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stage_times(marks: list[tuple[str, float]], finished: float) -> dict[str, float]:
    ends = [at for _, at in marks[1:]] + [finished]
    return {stage: round(end - at, 1) for (stage, at), end in zip(marks, ends, strict=True)}


def stanford_layout(csv: Path, tarball: Path) -> None:
    """An ``aclImdb``-layout archive: the CSV as train half, a marked copy as test half."""
    frame = pd.read_csv(csv)
    folders = {"positive": "pos", "negative": "neg"}
    with tarfile.open(tarball, "w:gz", compresslevel=1) as archive:
        for half, mark in (("train", ""), ("test", " [test copy]")):
            for number, (text, label) in enumerate(zip(frame.review, frame.sentiment, strict=True)):
                data = f"{text}{mark}".encode()
                info = tarfile.TarInfo(f"aclImdb/{half}/{folders[label]}/{number}_5.txt")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))


def run(data: Path, layout: str) -> dict[str, object]:
    """Reproduce the pipeline once; return the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-train-") as folder:
        clone = Path(folder) / "clone"
        clone.mkdir()
        _clone(clone)
        if layout == "stanford":
            tarball = Path(folder) / "aclImdb_v1.tar.gz"
            stanford_layout(data, tarball)
            data = tarball
        params = yaml.safe_load((clone / "params.yaml").read_text())
        params["ingest"]["source"] = str(data)
        (clone / "params.yaml").write_text(yaml.safe_dump(params))
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("MLFLOW_", "DAGSHUB_", "SENTIMENT_DATA"))
        }
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        load_before = os.getloadavg()
        cpu_before = _children_cpu()
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
                print(line.strip(), file=sys.stderr, flush=True)
                marks.append((line.split("'")[1], time.perf_counter()))
        if process.wait() != 0:
            sys.stdout.write("".join(lines))
            raise SystemExit("dvc repro failed")
        finished = time.perf_counter()
        total = finished - started
        metrics = json.loads((clone / "reports/metrics.json").read_text())
        model_bytes = sum(f.stat().st_size for f in (clone / "models/sentiment").rglob("*"))
        return {
            "source": f"{layout}: {data.name}",
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "dvc_repro_seconds": round(total, 1),
            # CPU time of dvc and its stages (every core): what load on the machine hides
            "cpu_seconds": round(_children_cpu() - cpu_before, 1),
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
    parser.add_argument("--source", choices=("csv", "stanford"), default="csv")
    args, _ = parser.parse_known_args(argv)
    figures = run(args.data, args.source)
    figures["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
