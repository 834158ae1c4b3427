"""The contract module: standard library only, and the names the operator uses today."""

from __future__ import annotations

import json
import subprocess
import sys

from model_server import contract


def test_contract_imports_nothing_outside_the_standard_library() -> None:
    code = (
        "import json, sys; before = set(sys.modules); import model_server.contract; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = {name.split(".")[0] for name in json.loads(output)}
    assert loaded - sys.stdlib_module_names == {"model_server"}
    assert "model_server.contract" in json.loads(output)


def test_contract_matches_the_operator() -> None:
    from sentiment_operator.render import queries, servicemonitor
    from sentiment_operator.spec import RESERVED_ENV

    assert tuple(RESERVED_ENV) == contract.OPERATOR_ENV
    assert queries.REQUESTS == contract.REQUESTS_SERIES
    assert queries.LATENCY_BUCKETS == contract.LATENCY_BUCKETS_SERIES
    assert queries.PREDICTIONS == contract.PREDICTIONS_SERIES
    assert queries.MODEL_INFO == contract.MODEL_INFO_METRIC
    assert servicemonitor.METRICS_PATH == contract.METRICS_PATH
    assert f"{contract.METRIC_PREFIX}.*" == servicemonitor.APP_METRICS


def test_the_server_serves_the_contract_names() -> None:
    from model_server.config import Settings
    from model_server.metrics import ServerMetrics

    settings = Settings.from_env({contract.ENV_MODEL_URI: "models:/m/1"})
    assert settings.port == contract.DEFAULT_PORT
    names = {metric.name for metric in ServerMetrics().registry.collect()}
    assert names == {
        contract.REQUESTS_METRIC,
        contract.LATENCY_METRIC,
        contract.PREDICTIONS_METRIC,
        contract.MODEL_INFO_METRIC,
    }
