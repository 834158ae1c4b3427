"""Start-up: live at once, ready once the model answers, a clean exit when it cannot load."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
import requests

from model_server.compiled import TOLERANCE, pipeline_positive_proba
from model_server.schemas import Metadata, Readiness
from tests.conftest import ALIAS
from tests.model_server.sample_model import RegisteredModel, register_sample_model
from tests.model_server.servers import (
    SERVER_COMMAND,
    ModelServer,
    run_to_exit,
    server_env,
    serving,
)
from tests.model_server.stall_proxy import stalling_registry
from tests.support.mlflow_server import MlflowServer
from tests.support.processes import free_port, running
from training.model import ModelParams

pytestmark = pytest.mark.integration

APP_LOAD_ERROR = 4
CHARACTER_PARAMS = ModelParams(ngram_max=2, char_ngram_max=3, char_hash_bits=14)


def test_listens_only_once_loaded_then_every_answer_is_ready(
    tmp_path: Path, registered_model: RegisteredModel
) -> None:
    """The model loads in the master before any worker exists: never a half-ready answer.

    While the registry stalls nothing listens (a probe sees a refused connection, never
    a 503 from a worker that has no model); from the first answer on, every worker is
    ready. Served by alias, so readiness also shows the alias resolved to its version.
    """
    # The alias's version now (other test folders may register newer versions of the model).
    client = mlflow.MlflowClient(registered_model.tracking_uri)
    version = str(client.get_model_version_by_alias(registered_model.name, ALIAS).version)
    with stalling_registry(registered_model.tracking_uri) as proxy:
        env = server_env(
            tmp_path,
            f"models:/{registered_model.name}@{ALIAS}",
            f"http://127.0.0.1:{proxy.port}",
            WORKERS="2",
        )
        with running(SERVER_COMMAND, log_path=tmp_path / "server.log", env=env, cwd=tmp_path):
            url = f"http://127.0.0.1:{env['PORT']}"
            _wait_until(lambda: proxy.connections > 0, "the server to ask the registry")
            with pytest.raises(requests.ConnectionError):
                requests.get(f"{url}/readyz", timeout=5)

            proxy.release()
            _wait_until(lambda: _answers(f"{url}/healthz"), "the server to listen")
            for _ in range(20):  # whichever worker answers, it serves
                ready = requests.get(f"{url}/readyz", timeout=30)
                assert ready.status_code == 200
                answer = requests.post(f"{url}/predict", json={"text": "fine"}, timeout=30)
                assert answer.status_code == 200
                assert answer.json()["model"]["version"] == version
            assert Readiness.model_validate_json(ready.content) == Readiness(
                status="ready", model_name=registered_model.name, model_version=version
            )
            metadata = Metadata.model_validate_json(requests.get(f"{url}/metadata").content)
            assert metadata.model_uri == f"models:/{registered_model.name}/{version}"
            assert "compiled path" in (tmp_path / "server.log").read_text()


def test_the_compiler_process_ends_with_a_server_killed_while_loading(
    tmp_path: Path, registered_model: RegisteredModel
) -> None:
    """No process outlives a server killed before it had its model (its pipe closes)."""
    with stalling_registry(registered_model.tracking_uri) as proxy:
        tracking = f"http://127.0.0.1:{proxy.port}"
        env = server_env(tmp_path, registered_model.uri, tracking)
        with running(
            SERVER_COMMAND, log_path=tmp_path / "server.log", env=env, cwd=tmp_path
        ) as server:
            _wait_until(lambda: proxy.connections > 0, "the server to ask the registry")
            children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
            compilers = [pid for pid in map(int, children) if _is_compiler(pid)]
            assert len(compilers) == 1, children
            os.kill(server.pid, signal.SIGKILL)
            _wait_until(lambda: not _is_compiler(compilers[0]), "the compiler process to end", 60)


def _is_compiler(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) model compiler process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    return b"compiler_process" in command and "State:\tZ" not in status


def _libraries(pid: int) -> str:
    """The files the process maps: its shared libraries among them."""
    return Path(f"/proc/{pid}/maps").read_text()


def test_a_compiled_model_serves_from_processes_that_never_loaded_scikit_learn(
    server: ModelServer,
) -> None:
    """The Pipeline was loaded and compiled in a process of its own: neither the master
    nor its workers hold scikit-learn (about 90 MB each would share otherwise)."""
    assert "scikit-learn stays out of this process" in server.log()
    for pid in [server.process.pid, *server.worker_pids()]:
        libraries = _libraries(pid)
        assert "/numpy/" in libraries  # what is read is the list of libraries
        assert "/sklearn/" not in libraries
        assert "scikit_learn" not in libraries


def test_a_model_whose_scorer_needs_scikit_learn_is_loaded_in_the_server(
    tmp_path: Path, shared_mlflow: MlflowServer, sample_texts: list[str]
) -> None:
    """A model with character n-grams: its compiled scorer runs scikit-learn's analyzer
    for them, so the master loads the Pipeline itself, compiles it there, and serves it
    as well."""
    model = register_sample_model(
        shared_mlflow.url, "character-sentiment", rows=600, params=CHARACTER_PARAMS
    )
    with serving(tmp_path, model, WORKERS="1") as running:
        log = running.log()
        assert "loading the Pipeline in this process: its compiled scorer runs scikit-learn" in log
        assert "compiled path" in log
        assert "/sklearn/" in _libraries(running.process.pid)
        answers = requests.post(f"{running.url}/predict", json={"texts": sample_texts}, timeout=60)
    assert answers.status_code == 200, answers.text
    mlflow.set_tracking_uri(model.tracking_uri)
    pipeline = mlflow.sklearn.load_model(model.uri)
    expected = pipeline_positive_proba(pipeline, "review", sample_texts)
    got = [p["probability_positive"] for p in answers.json()["predictions"]]
    assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) <= TOLERANCE


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def test_a_registry_that_never_answers_exits_4_within_the_deadline(
    tmp_path: Path, registered_model: RegisteredModel
) -> None:
    with stalling_registry(registered_model.tracking_uri) as proxy:
        tracking = f"http://admin:p@ss@w0rd@127.0.0.1:{proxy.port}"
        env = server_env(tmp_path, registered_model.uri, tracking, REGISTRY_TIMEOUT_SECONDS="3")
        started = time.monotonic()
        status, log = run_to_exit(tmp_path, env, timeout=60)
    assert time.monotonic() - started < 30
    _assert_one_clear_failure(status, log, registered_model.uri, f"127.0.0.1:{proxy.port}")
    assert "within 3 s" in log
    assert "ss@w0rd" not in log
    assert "p@ss" not in log


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _assert_one_clear_failure(status: int, log: str, uri: str, reason: str) -> None:
    assert status == APP_LOAD_ERROR, log[-3000:]
    lines = [line for line in log.splitlines() if "model load failed:" in line]
    assert len(lines) == 1, log[-3000:]
    assert f"model load failed: {uri}: " in lines[0]
    assert reason.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in log


def test_a_missing_model_exits_non_zero_with_one_line(
    tmp_path: Path, shared_mlflow: MlflowServer
) -> None:
    uri = "models:/no-such-model/1"
    status, log = run_to_exit(tmp_path, server_env(tmp_path, uri, shared_mlflow.url))
    _assert_one_clear_failure(status, log, uri, "no-such-model")


def test_a_model_of_another_flavor_exits_non_zero(
    tmp_path: Path, shared_mlflow: MlflowServer, wrong_flavor_uri: str
) -> None:
    env = server_env(tmp_path, wrong_flavor_uri, shared_mlflow.url)
    status, log = run_to_exit(tmp_path, env)
    _assert_one_clear_failure(status, log, wrong_flavor_uri, "flavor is not sklearn")


def test_an_unreachable_registry_exits_non_zero_without_leaking_credentials(
    tmp_path: Path, registered_model: RegisteredModel
) -> None:
    tracking = f"http://admin:s3cret-pass@127.0.0.1:{free_port()}"
    env = server_env(
        tmp_path,
        registered_model.uri,
        tracking,
        MLFLOW_TRACKING_USERNAME="admin",
        MLFLOW_TRACKING_PASSWORD="s3cret-pass",
        MLFLOW_TRACKING_TOKEN="s3cret-token",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
    )
    status, log = run_to_exit(tmp_path, env)
    _assert_one_clear_failure(status, log, registered_model.uri, "connection")
    assert "s3cret" not in log


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MODEL_URI": ""}, "MODEL_URI is required"),
        ({"PORT": "http"}, "PORT='http': must be a whole number"),
        ({"WORKERS": "0"}, "WORKERS='0': must be at least 1"),
        ({"MAX_BATCH_SIZE": "-5"}, "MAX_BATCH_SIZE='-5'"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='loud': must be one of"),
    ],
)
def test_a_bad_environment_exits_with_status_2_before_starting(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    env = server_env(tmp_path, "models:/any/1", "http://127.0.0.1:9", **overrides)
    status, log = run_to_exit(tmp_path, env, timeout=60)
    assert status == 2
    assert message in log
    assert "Starting gunicorn" not in log
