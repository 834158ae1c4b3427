"""Settings from the environment: defaults, limits, every problem reported at once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from model_server.config import ConfigError, Settings, available_cpus
from model_server.multiproc import MULTIPROC_ENV, prepare_metrics_dir
from model_server.redaction import redact


def test_defaults_follow_the_operator_contract(tmp_path: Path) -> None:
    settings = Settings.from_env({"MODEL_URI": "models:/imdb/3"})
    assert settings.model_uri == "models:/imdb/3"
    assert settings.port == 8080
    assert settings.max_batch_size == 1000
    assert settings.max_body_bytes == 1_048_576
    assert settings.workers == available_cpus() >= 1
    assert settings.log_level == "info"
    assert settings.model_name is None
    assert settings.model_version is None
    assert (settings.worker_class, settings.worker_connections) == ("gevent", 1000)
    assert settings.reuse_port is True
    assert (settings.header_timeout_seconds, settings.body_timeout_seconds) == (5, 10)


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "MODEL_URI": "models:/imdb@champion",
            "PORT": "9000",
            "WORKERS": "3",
            "THREADS": "2",
            "WORKER_CLASS": "GThread",
            "WORKER_CONNECTIONS": "200",
            "REUSE_PORT": "false",
            "HEADER_TIMEOUT_SECONDS": "7",
            "MAX_BATCH_SIZE": "10",
            "MAX_BODY_BYTES": "2048",
            "LOG_LEVEL": "DEBUG",
            "MODEL_NAME": "imdb",
            "MODEL_VERSION": "7",
            "PROMETHEUS_MULTIPROC_DIR": "/tmp/metrics",
        }
    )
    assert (settings.port, settings.workers, settings.threads) == (9000, 3, 2)
    assert (settings.worker_class, settings.worker_connections) == ("gthread", 200)
    assert settings.reuse_port is False
    assert settings.header_timeout_seconds == 7
    assert (settings.max_batch_size, settings.max_body_bytes) == (10, 2048)
    assert (settings.log_level, settings.model_name, settings.model_version) == (
        "debug",
        "imdb",
        "7",
    )
    assert settings.metrics_dir == "/tmp/metrics"


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(
            {"PORT": "70000", "THREADS": "x", "WORKER_CLASS": "sync", "HEADER_TIMEOUT_SECONDS": "0"}
        )
    message = str(raised.value)
    assert "WORKER_CLASS='sync': must be one of gevent, gthread" in message
    assert "HEADER_TIMEOUT_SECONDS='0': must be at least 1" in message
    assert "MODEL_URI is required" in message
    assert "PORT='70000': must be at least 1 and at most 65535" in message
    assert "THREADS='x': must be a whole number" in message


@pytest.mark.parametrize(
    ("cpu_max", "limit"), [("max 100000\n", None), ("150000 100000\n", 2), ("50000 100000\n", 1)]
)
def test_workers_default_to_the_cgroup_cpu_limit(
    tmp_path: Path, cpu_max: str, limit: int | None
) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    unlimited = available_cpus(tmp_path / "absent")
    assert unlimited >= 1
    assert available_cpus(path) == (unlimited if limit is None else min(limit, unlimited))


def test_credentials_are_redacted() -> None:
    env = {"MLFLOW_TRACKING_TOKEN": "tok-123456", "MLFLOW_TRACKING_PASSWORD": "pw"}
    text = "GET https://user:secret@mlflow.example:5000/x failed; token tok-123456; pw ok"
    assert redact(text, env) == "GET https://***@mlflow.example:5000/x failed; token ***; pw ok"
    assert redact("http://127.0.0.1:5000/a@b", env) == "http://127.0.0.1:5000/a@b"
    # A raw "@" in the password: everything up to the host's "@" goes.
    raw_at = "http://admin:p@ss@w0rd@10.0.0.1:5000/api/x@y"
    assert redact(raw_at, {}) == "http://***@10.0.0.1:5000/api/x@y"
    settings = Settings.from_env({"MODEL_URI": "m", "MLFLOW_TRACKING_URI": "http://u:p@h"})
    assert "p@" not in settings.safe_tracking_uri


def test_metrics_dir_is_created_and_cleared(tmp_path: Path) -> None:
    target = tmp_path / "metrics"
    target.mkdir()
    (target / "counter_123.db").write_bytes(b"old")
    (target / "keep.txt").write_text("not ours")
    env = {MULTIPROC_ENV: str(target)}
    assert prepare_metrics_dir(env) == target
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]

    fresh: dict[str, str] = {}
    made = prepare_metrics_dir(fresh)
    assert made.is_dir()
    assert fresh[MULTIPROC_ENV] == str(made)
    made.rmdir()


def test_the_readme_documents_every_variable(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text()
    table = readme.split("## The model server", 1)[1].split("| variable | default | meaning |")[1]
    rows = table.split("\n\n", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", rows))
    variables = {field.alias for field in Settings.model_fields.values()}
    assert variables - documented == set(), "README's model-server table lacks these"


ACCESS_LOG_CHECK = """
import logging
from gunicorn.config import Config
from model_server import gunicorn_conf

config = Config()
config.set("logconfig_dict", gunicorn_conf.logconfig_dict)
logger = gunicorn_conf.logger_class(config)
print(logger.access_log_enabled)
logging.getLogger("gunicorn.access").setLevel(logging.INFO)
print(logger.access_log_enabled)
"""


def test_access_log_lines_are_built_only_when_the_access_logger_would_emit_them(
    tmp_path: Path,
) -> None:
    # gunicorn builds each request's access-log line whenever a logging config is given;
    # ours drops them (requests are counted in /metrics), so building them is waste.
    env = {**os.environ, "MODEL_URI": "models:/imdb/1", MULTIPROC_ENV: str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", ACCESS_LOG_CHECK], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
