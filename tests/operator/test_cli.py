"""The command line: ``crd`` and ``render`` offline, ``run`` handed to the runner."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import mlflow
import pytest
import sentiment_operator
import yaml
from sentiment_operator.cli import main
from sentiment_operator.yamlio import MAX_CHARS
from sklearn.dummy import DummyClassifier

from tests.support.mlflow_server import MlflowServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sentimentmodel-minimal.yaml"
UID = "0b8c5a5e-7d7e-4a57-9c3c-6f2d0d2f1a10"


def invoke(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **functions: Any) -> None:
    """Stand in for a lazily imported sibling module written elsewhere."""
    module = types.ModuleType(f"sentiment_operator.{name}")
    for attribute, function in functions.items():
        setattr(module, attribute, function)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(sentiment_operator, name, module, raising=False)


def write_resource(tmp_path: Path, **metadata: str) -> Path:
    obj = yaml.safe_load(EXAMPLE.read_text())
    obj["metadata"].update(metadata)
    path = tmp_path / "resource.yaml"
    path.write_text(yaml.safe_dump(obj))
    return path


def test_crd_prints_the_committed_file() -> None:
    code, out, _ = invoke("crd")
    assert code == 0
    assert out == (ROOT / "crds" / "sentimentmodel.yaml").read_text()


def test_an_invalid_setting_stops_the_operator_with_one_line_naming_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sentiment_operator", "run", "--all-namespaces"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "SENTIMENT_WORKERS": "many", "KUBECONFIG": "/nonexistent"},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().startswith("sentiment-operator: invalid settings: ")
    assert "SENTIMENT_WORKERS" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_module_entry_point_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sentiment_operator", "crd"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,  # the repository root holds the operator/ folder: it must not shadow anything
    )
    assert result.stdout == (ROOT / "crds" / "sentimentmodel.yaml").read_text()


def test_render_with_a_version_prints_every_child() -> None:
    # Nothing listens on port 9: rendering succeeds only if the registry is never asked.
    code, out, err = invoke(
        "render", "-f", str(EXAMPLE), "--version", "5", "--tracking-uri", "http://127.0.0.1:9"
    )

    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert out.startswith("---\n")
    assert [doc["kind"] for doc in docs] == ["Deployment", "Service"]
    deployment = docs[0]
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MODEL_URI"] == "models:/imdb-sentiment/5"
    for doc in docs:
        assert doc["metadata"]["namespace"] == "default"
        assert "ownerReferences" not in doc["metadata"]
    assert "ownerReferences omitted" in err


def test_render_keeps_owner_references_when_the_uid_is_known(tmp_path: Path) -> None:
    path = write_resource(tmp_path, uid=UID, namespace="reviews")
    code, out, err = invoke("render", "-f", str(path), "--version", "5")
    assert code == 0
    assert err == ""
    for doc in yaml.safe_load_all(out):
        assert doc["metadata"]["namespace"] == "reviews"
        assert doc["metadata"]["ownerReferences"][0]["uid"] == UID


def test_render_reads_stdin_and_defaults_the_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    text = EXAMPLE.read_text().replace("  namespace: default\n", "")
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, out, _ = invoke("render", "-f", "-", "--version", "1", "-n", "reviews")
    assert code == 0
    assert {doc["metadata"]["namespace"] for doc in yaml.safe_load_all(out)} == {"reviews"}


@pytest.fixture(scope="module")
def champion_v2(shared_mlflow: MlflowServer) -> str:
    """``imdb-sentiment`` with two versions in a real registry, the alias champion on v2."""
    mlflow.set_tracking_uri(shared_mlflow.url)
    client = mlflow.MlflowClient(shared_mlflow.url)
    for _ in range(2):
        mlflow.set_experiment("operator-cli-tests")  # the active id of another server may linger
        with mlflow.start_run():
            model = DummyClassifier().fit([[0], [1]], ["negative", "positive"])
            mlflow.sklearn.log_model(model, name="model", registered_model_name="imdb-sentiment")
    client.set_registered_model_alias("imdb-sentiment", "champion", "2")
    return shared_mlflow.url


@pytest.mark.integration
def test_render_without_a_version_resolves_it_in_the_registry(champion_v2: str) -> None:
    code, out, err = invoke("render", "-f", str(EXAMPLE), "--tracking-uri", champion_v2)

    assert code == 0, err
    deployment = next(yaml.safe_load_all(out))
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "2"


@pytest.mark.integration
def test_render_uses_the_spec_tracking_uri_by_default(champion_v2: str, tmp_path: Path) -> None:
    obj = yaml.safe_load(EXAMPLE.read_text())
    obj["spec"]["registry"]["trackingUri"] = champion_v2
    path = tmp_path / "cr.yaml"
    path.write_text(yaml.safe_dump(obj))

    code, out, err = invoke("render", "-f", str(path))

    assert code == 0, err
    env = next(yaml.safe_load_all(out))["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "MODEL_URI", "value": "models:/imdb-sentiment/2"} in env


def test_render_reports_an_unreachable_registry() -> None:
    code, out, err = invoke("render", "-f", str(EXAMPLE), "--tracking-uri", "http://127.0.0.1:9")

    assert code == 1
    assert out == ""
    assert "unavailable" in err
    assert "--version N renders without a registry" in err


def test_render_reports_an_invalid_spec(tmp_path: Path) -> None:
    obj = yaml.safe_load(EXAMPLE.read_text())
    obj["spec"]["model"]["stage"] = "Production"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(obj))

    code, out, err = invoke("render", "-f", str(path), "--version", "1")

    assert code == 1
    assert out == ""
    assert "exactly one of stage and alias must be set" in err


def test_render_needs_a_sentiment_model(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    code, _, err = invoke("render", "-f", str(path), "--version", "1")
    assert code == 1
    assert "holds no SentimentModel" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--all-namespaces"], {"namespaces": [], "clusterwide": True}),
        (["run", "-n", "a", "-n", "b"], {"namespaces": ["a", "b"], "clusterwide": False}),
    ],
)
def test_run_hands_the_scope_to_the_runner(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: dict[str, Any]
) -> None:
    calls: list[dict[str, Any]] = []
    fake_module(monkeypatch, "runner", run=lambda **kwargs: calls.append(kwargs))

    assert invoke(*argv)[0] == 0
    assert calls == [expected | {"liveness_endpoint": None}]


def test_run_needs_a_scope(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        invoke("run")
    assert exit_info.value.code == 2
    assert "--all-namespaces" in capsys.readouterr().err


def example_text(**metadata: Any) -> str:
    obj = yaml.safe_load(EXAMPLE.read_text())
    obj["metadata"].update(metadata)
    return yaml.safe_dump(obj)


def alias_bomb() -> str:
    """'Billion laughs': nine levels of nine aliases, 9**9 strings once expanded."""
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for previous, current in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{current}: &{current} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join([*lines, "kind: SentimentModel", "spec: *i", ""])


SPEC = "spec: {model: {name: m, stage: Production}, registry: {trackingUri: http://mlflow}}"
SENTIMENT_MODEL = "apiVersion: mlops.sentiment-operator.io/v1alpha1\nkind: SentimentModel\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            example_text(name="Bad_Name"),
            "document 1 (SentimentModel): metadata.name must be a DNS label (lower-case letters, "
            "digits and '-', starting with a letter, ending with a letter or digit): the Service "
            "is named after it (got 'Bad_Name')",
            id="bad-name",
        ),
        pytest.param(
            example_text(name="x" * 64),
            "document 1 (SentimentModel): metadata.name is 64 characters long, at most 63: "
            "the Service is named after it",
            id="name-too-long",
        ),
        pytest.param(
            f"{SENTIMENT_MODEL}metadata: {{namespace: default}}\n{SPEC}\n",
            "document 1 (SentimentModel): metadata.name is required",
            id="no-name",
        ),
        pytest.param(
            "apiVersion: v1\nkind: [\n",
            "invalid YAML: while parsing a flow node: expected the node content, but found "
            "'<stream end>' (line 3, column 1)",
            id="yaml-syntax",
        ),
        pytest.param(
            "metadata:\n  name: a\n name: b\n",
            "invalid YAML: while parsing a block mapping: expected <block end>, but found "
            "'<block mapping start>' (line 3, column 2)",
            id="yaml-indentation",
        ),
        pytest.param("- a\n- b\n", "document 1 is a list, not a mapping", id="top-level-list"),
        pytest.param(
            f"kind: ConfigMap\n---\n{SENTIMENT_MODEL}metadata: imdb\n{SPEC}\n",
            "document 2 (SentimentModel): metadata must be a mapping (got str)",
            id="metadata-string",
        ),
        pytest.param(
            f"{SENTIMENT_MODEL}metadata: {{name: imdb, namespace: Not_A_Namespace}}\n{SPEC}\n",
            "document 1 (SentimentModel): metadata.namespace is not a namespace name "
            "(got 'Not_A_Namespace')",
            id="bad-namespace",
        ),
        pytest.param(
            f"apiVersion: v1\nkind: SentimentModel\nmetadata: {{name: imdb}}\n{SPEC}\n",
            "document 1 (SentimentModel): apiVersion must be "
            "mlops.sentiment-operator.io/v1alpha1 (got 'v1')",
            id="wrong-api-version",
        ),
        pytest.param(
            alias_bomb(),
            "YAML aliases (*name) are not supported (line 2, column 8)",
            id="alias-bomb",
        ),
        pytest.param(
            "a: " + "[" * 5000 + "]" * 5000 + "\n", "invalid YAML: nested too deeply", id="deep"
        ),
        pytest.param(
            "created: 2025-13-45\n", "invalid YAML: month must be in 1..12", id="bad-timestamp"
        ),
        pytest.param("#" * (MAX_CHARS + 1), f"longer than {MAX_CHARS} characters", id="too-long"),
    ],
)
def test_render_refuses_a_bad_file_in_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)

    code, out, err = invoke("render", "-f", str(path), "--version", "1")

    assert (code, out) == (1, "")
    assert err == f"error: {path}: {expected}\n"


def test_render_refuses_an_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    assert invoke("render", "-f", str(missing), "--version", "1")[::2] == (
        1,
        f"error: {missing}: cannot read: No such file or directory\n",
    )
    assert invoke("render", "-f", str(binary), "--version", "1")[::2] == (
        1,
        f"error: {binary}: not UTF-8 text\n",
    )


def test_render_reads_no_more_of_stdin_than_it_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.StringIO("#" * (MAX_CHARS * 3))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, _, err = invoke("render", "-f", "-", "--version", "1")
    assert (code, err) == (1, f"error: -: longer than {MAX_CHARS} characters\n")
    assert stdin.tell() == MAX_CHARS + 1


def test_render_refuses_a_version_that_is_no_label_value() -> None:
    code, out, err = invoke("render", "-f", str(EXAMPLE), "--version", "3 beta")
    assert (code, out) == (1, "")
    assert err == "error: --version '3 beta' is not a label value, e.g. 3\n"


def test_render_refuses_credentials_without_repeating_them(tmp_path: Path) -> None:
    obj = yaml.safe_load(EXAMPLE.read_text())
    obj["spec"]["registry"]["trackingUri"] = "https://me:hunter2@mlflow.example.com"
    obj["spec"]["server"] = {"env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "hunter3"}]}
    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(obj))

    code, out, err = invoke("render", "-f", str(path), "--version", "1")

    assert (code, out) == (1, "")
    assert err == (
        "error: SentimentModel imdb: invalid SentimentModel spec (2 problems): "
        "spec.registry.trackingUri: trackingUri must not carry credentials (user info, or a "
        "token, key or password parameter): use registry.credentialsSecret; "
        "spec.server.env.0.name: env must not set a credential variable: use "
        "registry.credentialsSecret.\n"
    )


def test_render_accepts_the_longest_name(tmp_path: Path) -> None:
    path = write_resource(tmp_path, name="x" * 63)
    code, out, _ = invoke("render", "-f", str(path), "--version", "1")
    assert code == 0
    assert {doc["metadata"]["name"] for doc in yaml.safe_load_all(out)} == {"x" * 63}


def run_render(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentiment_operator", "render", "-f", str(path), "--version", "1"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,  # a YAML alias bomb once hung here
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(alias_bomb(), id="alias-bomb"),
        pytest.param(example_text(name="Bad_Name"), id="bad-name"),
        pytest.param(example_text(name="x" * 64), id="name-too-long"),
        pytest.param("apiVersion: v1\nkind: [\n", id="yaml-syntax"),
        pytest.param("- a\n- b\n", id="top-level-list"),
        pytest.param(f"{SENTIMENT_MODEL}metadata: imdb\n{SPEC}\n", id="metadata-string"),
    ],
)
def test_the_command_refuses_a_bad_file_without_a_traceback(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)

    result = run_render(path)

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"error: {path}: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_the_command_renders_a_good_file(tmp_path: Path) -> None:
    path = write_resource(tmp_path, uid=UID)
    result = run_render(path)
    assert (result.returncode, result.stderr) == (0, "")
    assert [doc["kind"] for doc in yaml.safe_load_all(result.stdout)] == ["Deployment", "Service"]
