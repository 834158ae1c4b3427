"""The model server against ``mlflow models serve`` on the same registered model.

Measures, with one load generator (``wrk``, Debian package ``wrk``) on loopback:
single-review ``/predict`` throughput and p50/p99 latency at several concurrencies,
our ``GET /healthz`` at the same concurrencies (the ceiling the HTTP stack sets with
nothing to score), the same for ``mlflow models serve`` (``/invocations``, ``dataframe_split``)
and KServe's model server,
batch reviews per second through ``/predict``, and the Pipeline's own
``predict_proba`` rate in this process on the same batch.

    python -m bench --only server [--duration 10] [--concurrency 1,4,16,64]
        [--worker-classes gevent,gthread] [--slow-clients 0,50,500]

With ``--slow-clients``, ours also serves single reviews (``wrk -c8``) while that
many connections trickle or stall their requests (``tests/model_server/slow_clients.py``:
heads and bodies a byte a second, short bodies, stopped chunked bodies, each replaced
when the server cuts it off).

Everything runs on this machine: an MLflow server, the model trained by the
project's ``train_pipeline`` and registered, then each server in turn.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from model_server.config import available_cpus
from tests.conftest import IMDB_CSV
from tests.model_server.sample_model import RegisteredModel, balanced_sample, register_sample_model
from tests.model_server.servers import ModelServer, model_server, server_env
from tests.model_server.slow_clients import slow_clients
from tests.support.mlflow_server import mlflow_executable, mlflow_server
from tests.support.processes import free_port, running, wait_http
from training.model import ModelParams

MODEL_NAME = "bench-sentiment"
BENCH_PARAMS = ModelParams()  # the production configuration (params.yaml's defaults)
BATCH_SIZE = 1000
# 1,000 average IMDB reviews are ~1.3 MB: over the 1 MiB default body limit.
BATCH_BODY_LIMIT = 8 << 20

WRK_SCRIPT = """
local body
init = function(args)
  local file = assert(io.open(args[1], "rb"))
  body = file:read("*a")
  file:close()
end
request = function()
  if body == "" then
    return wrk.format("GET")
  end
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, '
    .. '"p50_us": %d, "p99_us": %d, "mean_us": %.1f}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """One wrk run."""

    server: str
    workload: str
    connections: int
    requests: int
    seconds: float
    errors: int
    non_2xx: int
    p50_ms: float
    p99_ms: float
    load_average: float
    slow_clients: int = 0
    slow_cut_off: str = ""  # how the server ended the slow connections, by kind

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def run_wrk(
    url: str, body: Path, *, connections: int, duration: int, script: Path, label: tuple[str, str]
) -> LoadResult:
    """``wrk`` with one thread (it shares the cores with the server) for ``duration`` seconds."""
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
        "-s", str(script), url, "--", str(body),
    ]  # fmt: skip
    load = os.getloadavg()[0]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    return LoadResult(
        server=label[0],
        workload=label[1],
        connections=connections,
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=raw["errors"],
        non_2xx=raw["non_2xx"],
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        load_average=load,
    )


KSERVE_VENV = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sentiment-bench" / "kserve"
)
KSERVE = "kserve==0.21.*"
#: The peer loads the model with the same libraries as ours: their versions in the lock.
LOCKED_FOR_KSERVE = ("scikit-learn", "skops", "mlflow-skinny", "numpy", "scipy")
KSERVE_PEER = Path(__file__).with_name("kserve_peer.py")


def kserve_python() -> Path:
    """The Python of a venv of its own holding KServe (made once, in the user's cache)."""
    python = KSERVE_VENV / "bin" / "python"
    if python.exists():
        return python
    lock = (Path(__file__).resolve().parent.parent / "requirements.lock").read_text()
    pins = [
        line.strip()
        for line in lock.splitlines()
        if line.split("==")[0].strip() in LOCKED_FOR_KSERVE and "==" in line
    ]
    print(f"installing {KSERVE} with {', '.join(pins)} into {KSERVE_VENV}...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(KSERVE_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", KSERVE, *pins],
        check=True,
    )
    return python


@contextlib.contextmanager
def kserve_serve(root: Path, model: RegisteredModel, workers: int) -> Iterator[str]:
    """KServe's model server (v1 protocol, ``workers`` processes) on the registered model."""
    port = free_port()
    command = [
        str(kserve_python()), str(KSERVE_PEER), "--model_name", model.name,
        "--model_uri", model.uri, "--http_port", str(port), "--workers", str(workers),
        "--enable_grpc", "false", "--enable_latency_logging", "false",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": model.tracking_uri}
    yield from _peer(command, env, root / "kserve.log", port, f"/v1/models/{model.name}")


def _peer(
    command: list[str], env: dict[str, str], log_path: Path, port: int, health: str
) -> Iterator[str]:
    """Run a peer server until its ``health`` path answers; its URL (its log tail on failure)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with running(command, log_path=log_path, env=env, cwd=log_path.parent) as process:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}{health}", timeout=300, process=process)
        except (RuntimeError, TimeoutError):
            print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        yield url


@contextlib.contextmanager
def mlflow_models_serve(root: Path, model: RegisteredModel, workers: int) -> Iterator[str]:
    """``mlflow models serve`` (uvicorn, ``workers`` processes) on the registered model."""
    port = free_port()
    command = [
        mlflow_executable(), "models", "serve", "-m", model.uri, "--env-manager", "local",
        "-h", "127.0.0.1", "-p", str(port), "--workers", str(workers),
    ]  # fmt: skip
    # It starts `uvicorn` through the shell: the venv's bin must be on PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": model.tracking_uri, "PATH": path}
    yield from _peer(command, env, root / "mlflow-serve.log", port, "/health")


def in_process_rate(pipeline: Any, texts: list[str], repeats: int = 5) -> float:
    """Reviews per second of ``predict_proba`` on ``texts`` in this process (best of runs)."""
    frame = pd.DataFrame({"review": texts})
    pipeline.predict_proba(frame)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        pipeline.predict_proba(frame)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def pss_mib(pids: list[int]) -> float:
    """Proportional set size of these processes together (shared pages counted once), MiB."""
    total_kib = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cpus": str(available_cpus()),
        "python": platform.python_version(),
        "load_average_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def median_review(texts: pd.Series) -> str:
    """The review of median length: a typical single request."""
    lengths = texts.str.len()
    return str(texts.iloc[(lengths - lengths.median()).abs().argmin()])


def warm_up(url: str, body: Path, script: Path, label: tuple[str, str]) -> None:
    run_wrk(url, body, connections=4, duration=3, script=script, label=label)


def ours_label(worker_class: str) -> str:
    """Our server's name in the tables: the default worker class is plain ``model_server``."""
    return "model_server" if worker_class == "gevent" else f"model_server ({worker_class})"


def measure_ours(
    env: dict[str, str],
    worker_class: str,
    paths: dict[str, Path],
    script: Path,
    args: argparse.Namespace,
    info: dict[str, str],
    results: list[LoadResult],
) -> None:
    """Start our server with ``env``; its ready time, PSS and every load run."""
    name = ours_label(worker_class)
    root = Path(env["HOME"]).parent
    started = time.monotonic()
    with model_server(root, env) as ours:
        info[f"ready_seconds[{name}]"] = f"{time.monotonic() - started:.1f}"
        info[f"pss_mib_idle[{name}]"] = f"{ours_pss(ours):.0f}"
        print(f"{name}: ready after {info[f'ready_seconds[{name}]']} s, "
              f"{info[f'pss_mib_idle[{name}]']} MiB PSS", flush=True)  # fmt: skip
        url = f"{ours.url}/predict"
        label = (name, "single review")
        warm_up(url, paths["predict"], script, label)
        for connections in [int(c) for c in args.concurrency.split(",")]:
            results.append(
                run_wrk(url, paths["predict"], connections=connections,
                        duration=args.duration, script=script, label=label)
            )  # fmt: skip
            print(results[-1], flush=True)
        # The ceiling the HTTP stack sets: the same server answering with nothing to score.
        health = (name, "GET /healthz (no body, no scoring)")
        for connections in [int(c) for c in args.concurrency.split(",")]:
            results.append(
                run_wrk(f"{ours.url}/healthz", paths["nothing"], connections=connections,
                        duration=args.duration, script=script, label=health)
            )  # fmt: skip
            print(results[-1], flush=True)
        for connections in (1, args.workers):
            results.append(
                run_wrk(url, paths["batch"], connections=connections, duration=args.duration,
                        script=script, label=(name, f"batch of {BATCH_SIZE}"))
            )  # fmt: skip
            print(results[-1], flush=True)
        info[f"pss_mib_after_load[{name}]"] = f"{ours_pss(ours):.0f}"
        port = int(env["PORT"])
        for count in [int(c) for c in args.slow_clients.split(",") if c.strip()]:
            results.append(with_slow_clients(url, port, count, paths, script, args, name))
            print(results[-1], flush=True)


def ours_pss(ours: ModelServer) -> float:
    return pss_mib([ours.process.pid, *ours.worker_pids()])


SLOW_CONNECTIONS_SETTLE_SECONDS = 2.0


def with_slow_clients(
    url: str,
    port: int,
    count: int,
    paths: dict[str, Path],
    script: Path,
    args: argparse.Namespace,
    name: str,
) -> LoadResult:
    """Single reviews at 8 connections while ``count`` slow connections stay open."""
    with slow_clients("127.0.0.1", port, count) as slow:
        time.sleep(SLOW_CONNECTIONS_SETTLE_SECONDS)
        result = run_wrk(url, paths["predict"], connections=8, duration=args.duration,
                         script=script, label=(name, "single review, slow clients"))  # fmt: skip
        still_open = slow.open_count
        outcomes = list(slow.outcomes)
    kinds: dict[str, list[float]] = {}
    for outcome in outcomes:
        how = "closed" if outcome.status is None else str(outcome.status)
        kinds.setdefault(f"{outcome.kind} {how}", []).append(outcome.seconds)
    summary = ", ".join(
        f"{key} x{len(seconds)} after {min(seconds):.1f}-{max(seconds):.1f} s"
        for key, seconds in sorted(kinds.items())
    )
    if slow.failed_connects:
        summary += f", {slow.failed_connects} could not connect"
    summary = f"{summary}; {still_open} open at the end" if count else "-"
    return replace(result, slow_clients=count, slow_cut_off=summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench --only server")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--concurrency", default="1,4,16,64", help="connections, comma-separated")
    parser.add_argument("--rows", type=int, default=5_000, help="reviews to train the model on")
    parser.add_argument("--workers", type=int, default=available_cpus(), help="for both servers")
    parser.add_argument("--threads", default="", help="THREADS of the model server (its default)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--no-mlflow", action="store_true", help="skip mlflow models serve (tuning runs)"
    )
    parser.add_argument("--no-kserve", action="store_true", help="skip KServe's model server")
    parser.add_argument(
        "--worker-classes", default="gevent", help="WORKER_CLASS values of ours, in turn"
    )
    parser.add_argument(
        "--slow-clients", default="", help="slow connections held open while wrk -c8 runs"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("server bench needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    info = machine()
    results: list[LoadResult] = []
    with tempfile.TemporaryDirectory(prefix="server-bench-") as scratch:
        root = Path(scratch)
        script = root / "post.lua"
        script.write_text(WRK_SCRIPT)
        reviews = balanced_sample(BATCH_SIZE, seed=11).review
        single = median_review(reviews)
        batch_texts = [str(text) for text in reviews]
        bodies: dict[str, object] = {
            "predict": {"text": single},
            "invocations": {"dataframe_split": {"columns": ["review"], "data": [[single]]}},
            "kserve": {"instances": [single]},
            "batch": {"texts": batch_texts},
        }
        paths = {name: root / f"{name}.json" for name in bodies}
        for name, body in bodies.items():
            paths[name].write_text(json.dumps(body))
        paths["nothing"] = root / "nothing"  # the script sends a GET for an empty body
        paths["nothing"].write_text("")

        with mlflow_server(root / "mlflow") as tracking:
            # The shipped test sample holds 3,000 reviews; IMDB_TRAIN_CSV names the full file.
            per_class = pd.read_csv(IMDB_CSV)["sentiment"].value_counts().min()
            rows = min(args.rows, 2 * int(per_class))
            print(f"training on {rows} reviews of {IMDB_CSV} and registering...", flush=True)
            model = register_sample_model(
                tracking.url, MODEL_NAME, rows=rows, params=BENCH_PARAMS, seed=3
            )

            import mlflow

            mlflow.set_tracking_uri(tracking.url)
            pipeline = mlflow.sklearn.load_model(model.uri)

            extra = {"WORKERS": str(args.workers), "MAX_BODY_BYTES": str(BATCH_BODY_LIMIT)}
            if args.threads:
                extra["THREADS"] = args.threads
            for worker_class in args.worker_classes.split(","):
                env = server_env(
                    root / f"ours-{worker_class}", model.uri, model.tracking_uri,
                    WORKER_CLASS=worker_class, **extra,
                )  # fmt: skip
                measure_ours(env, worker_class, paths, script, args, info, results)
            # Right after our runs, under the same conditions (servers stopped).
            in_process = in_process_rate(pipeline, batch_texts)

            if not args.no_kserve:
                with kserve_serve(root / "kserve", model, args.workers) as url:
                    label = ("kserve", "single review")
                    endpoint = f"{url}/v1/models/{model.name}:predict"
                    warm_up(endpoint, paths["kserve"], script, label)
                    for connections in concurrencies:
                        results.append(
                            run_wrk(endpoint, paths["kserve"], connections=connections,
                                    duration=args.duration, script=script, label=label)
                        )  # fmt: skip
                        print(results[-1], flush=True)
            if args.no_mlflow:
                print(report(results, in_process, info, args))
                return 0
            with mlflow_models_serve(root / "mlflow-serve", model, args.workers) as url:
                label = ("mlflow models serve", "single review")
                warm_up(f"{url}/invocations", paths["invocations"], script, label)
                for connections in concurrencies:
                    results.append(
                        run_wrk(f"{url}/invocations", paths["invocations"],
                                connections=connections, duration=args.duration, script=script,
                                label=label)
                    )  # fmt: skip
                    print(results[-1], flush=True)

    print(report(results, in_process, info, args))
    if args.json:
        payload = {
            "machine": info,
            "in_process_reviews_per_second": in_process,
            "runs": [asdict(r) | {"per_second": r.per_second} for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


def report(
    results: list[LoadResult], in_process: float, info: dict[str, str], args: argparse.Namespace
) -> str:
    """The figures as Markdown."""
    lines = [
        f"Machine: {info['cpu']}, {info['cpus']} CPUs, Python {info['python']}, "
        f"load average at start {info['load_average_at_start']}. "
        f"{args.workers} workers per server, {args.duration} s per run, wrk -t1.",
        "",
    ]
    for worker_class in args.worker_classes.split(","):
        name = ours_label(worker_class)
        lines.append(
            f"{name}: ready {info.get(f'ready_seconds[{name}]', '?')} s after start; "
            f"{info.get(f'pss_mib_idle[{name}]', '?')} MiB PSS (master and workers) once "
            f"ready, {info.get(f'pss_mib_after_load[{name}]', '?')} MiB after the load runs."
        )
    lines += [
        "",
        "| server | workload | connections | requests/s | p50 ms | p99 ms | errors | load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if r.workload.endswith("slow clients"):
            continue
        lines.append(
            f"| {r.server} | {r.workload} | {r.connections} | {r.per_second:,.0f} | "
            f"{r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors + r.non_2xx} | {r.load_average:.1f} |"
        )
    slow = [r for r in results if r.workload.endswith("slow clients")]
    if slow:
        lines += [
            "",
            "| server | slow connections | normal requests/s (8 connections) | p50 ms | p99 ms "
            "| failed | load | slow connections ended by the server (kind, answer, after) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for r in slow:
            failed = str(r.errors + r.non_2xx) if r.requests else "all: no answer"
            latency = f"{r.p50_ms:.1f} | {r.p99_ms:.1f}" if r.requests else "- | -"
            lines.append(
                f"| {r.server} | {r.slow_clients} | {r.per_second:,.0f} | {latency} | "
                f"{failed} | {r.load_average:.1f} | {r.slow_cut_off} |"
            )
    lines += [
        "",
        "| peer | connections | throughput ours / peer | p99 ours / peer |",
        "| --- | ---: | ---: | ---: |",
    ]
    singles = {(r.server, r.connections): r for r in results if r.workload == "single review"}
    stack = {(r.server, r.connections): r for r in results if r.workload.startswith("GET /healthz")}
    for peer in ("kserve", "mlflow models serve"):
        for (server, connections), ours in sorted(singles.items()):
            theirs = singles.get((peer, connections))
            if server == "model_server" and theirs is not None:
                lines.append(
                    f"| {peer} | {connections} | {ours.per_second / theirs.per_second:.1f}x | "
                    f"{ours.p99_ms / theirs.p99_ms:.2f} |"
                )
    batches = [r for r in results if r.workload.startswith("batch")]
    batch = max(batches, key=lambda r: r.per_second)
    served = batch.per_second * BATCH_SIZE
    lines += [
        "",
        f"Batch: {served:,.0f} reviews/s through /predict ({batch.connections} connections); "
        f"predict_proba in one process: {in_process:,.0f} reviews/s "
        f"(server / in-process = {served / in_process:.2f}).",
    ]
    cores = int(info["cpus"])
    for server, connections in sorted(k for k in singles if k[0].startswith("model_server")):
        ours = singles[(server, connections)]
        lines.append(
            f"{server}, single review, {connections} connections: {ours.per_second:,.0f} req/s = "
            f"{ours.per_second / (in_process * cores):.0%} of the in-process batched rate "
            f"x {cores} cores."
        )
        health = stack.get((server, connections))
        if health is not None:
            share = ours.per_second / health.per_second
            lines.append(
                f"{server}, GET /healthz, {connections} connections: {health.per_second:,.0f} "
                f"req/s with nothing to score; single reviews at {share:.0%} of that rate."
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
