"""The SentimentModel spec and status models: validation, defaults, conditions."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sentiment_operator.rules import KNOWN_CREDENTIAL_ENV
from sentiment_operator.spec import (
    RESERVED_ENV,
    SentimentModelSpec,
    SpecError,
    parse_spec,
)
from sentiment_operator.status_model import (
    Condition,
    SentimentModelStatus,
    set_condition,
)

MINIMAL: dict[str, Any] = {
    "model": {"name": "imdb-sentiment", "stage": "Production"},
    "registry": {"trackingUri": "http://mlflow.mlflow.svc:5000"},
}


def with_changes(path: str, value: Any) -> dict[str, Any]:
    """MINIMAL with the dotted ``path`` set to ``value`` (``...`` deletes it)."""
    spec = copy.deepcopy(MINIMAL)
    *parents, leaf = path.split(".")
    node = spec
    for part in parents:
        node = node.setdefault(part, {})
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return spec


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(raw)
    return caught.value.problems


def test_minimal_spec_takes_the_documented_defaults() -> None:
    spec = parse_spec(MINIMAL)

    assert spec.model.stage == "Production"
    assert spec.model.alias is None
    assert spec.registry.credentials_secret is None
    assert spec.registry.poll_interval_seconds == 30
    assert spec.server.image is None
    assert spec.server.image_pull_policy == "IfNotPresent"
    assert (spec.server.replicas, spec.server.workers, spec.server.port) == (1, 2, 8080)
    assert spec.server.resources.requests == {"cpu": "250m", "memory": "512Mi"}
    assert spec.server.resources.limits == {"memory": "1Gi"}
    assert spec.server.env == []
    assert (spec.service.type, spec.service.port) == ("ClusterIP", 80)
    assert spec.rollout.progress_deadline_seconds == 300
    scaling = spec.autoscaling
    assert not scaling.enabled
    assert (scaling.min_replicas, scaling.max_replicas) == (1, 5)
    assert (scaling.polling_interval, scaling.cooldown_period) == (15, 300)
    assert scaling.prometheus.server_address == "http://prometheus-operated.monitoring.svc:9090"
    assert (scaling.prometheus.threshold, scaling.prometheus.activation_threshold) == ("10", "1")
    assert scaling.prometheus.query is None
    kube = scaling.predictkube
    assert not kube.enabled
    assert (kube.api_key_secret.name, kube.api_key_secret.key) == ("predictkube-api-key", "apiKey")
    assert (kube.predict_horizon, kube.history_time_window, kube.query_step) == ("2h", "7d", "2m")
    assert (spec.monitoring.enabled, spec.monitoring.interval) == (False, "30s")
    assert spec.monitoring.labels == {}
    assert not spec.monitoring.dashboard
    assert not spec.istio.enabled


def test_wire_names_are_camel_case_and_round_trip() -> None:
    raw = with_changes("autoscaling", {"enabled": True, "minReplicas": 2, "maxReplicas": 4})
    raw["registry"]["credentialsSecret"] = "mlflow-credentials"

    spec = parse_spec(raw)
    wire = spec.model_dump(by_alias=True, exclude_none=True)

    assert wire["registry"]["credentialsSecret"] == "mlflow-credentials"
    assert wire["autoscaling"]["minReplicas"] == 2
    assert parse_spec(wire) == spec


def test_python_names_are_accepted_too() -> None:
    spec = SentimentModelSpec.model_validate(
        {
            "model": {"name": "m", "alias": "champion"},
            "registry": {"tracking_uri": "https://dagshub.com/u/r.mlflow"},
        }
    )
    assert spec.model.alias == "champion"


def test_alias_instead_of_stage() -> None:
    spec = parse_spec(with_changes("model", {"name": "imdb-sentiment", "alias": "champion"}))
    assert (spec.model.stage, spec.model.alias) == (None, "champion")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            with_changes("model.alias", "champion"),
            "spec.model: exactly one of stage and alias must be set",
            id="stage-and-alias",
        ),
        pytest.param(
            with_changes("model.stage", ...),
            "spec.model: exactly one of stage and alias must be set",
            id="neither",
        ),
        pytest.param(
            with_changes("autoscaling", {"minReplicas": 6, "maxReplicas": 5}),
            "spec.autoscaling: minReplicas (6) must be less than or equal to maxReplicas (5)",
            id="min-above-max",
        ),
        pytest.param(
            with_changes("model.stage", "Archived"),
            "spec.model.stage: Input should be 'Staging' or 'Production' (got 'Archived')",
            id="bad-stage",
        ),
        pytest.param(
            with_changes("service", {"type": "ExternalName"}),
            "spec.service.type: Input should be 'ClusterIP', 'NodePort' or 'LoadBalancer'",
            id="bad-service-type",
        ),
        pytest.param(
            with_changes("server", {"replicas": "3"}),
            "spec.server.replicas: Input should be a valid integer (got '3')",
            id="string-for-integer",
        ),
        pytest.param(
            with_changes("autoscaling", {"prometheus": {"threshold": 10}}),
            "spec.autoscaling.prometheus.threshold: Input should be a valid string (got 10)",
            id="integer-for-string",
        ),
        pytest.param(
            with_changes("server", {"replica": 3}),
            "spec.server.replica: Extra inputs are not permitted",
            id="unknown-field",
        ),
        pytest.param(
            with_changes("registry", ...),
            "spec.registry: Field required",
            id="missing-registry",
        ),
        pytest.param(
            with_changes("registry.trackingUri", "mlflow:5000"),
            "spec.registry.trackingUri: String should match pattern",
            id="tracking-uri-not-http",
        ),
        pytest.param(
            with_changes("registry.pollIntervalSeconds", 1),
            "spec.registry.pollIntervalSeconds: Input should be greater than or equal to 5",
            id="poll-too-fast",
        ),
        pytest.param(
            with_changes("server", {"port": 80}),
            "spec.server.port: Input should be greater than or equal to 1024",
            id="privileged-port",
        ),
        pytest.param(
            with_changes("rollout", {"progressDeadlineSeconds": 3601}),
            "spec.rollout.progressDeadlineSeconds: Input should be less than or equal to 3600",
            id="deadline-too-long",
        ),
        pytest.param(
            with_changes("server", {"env": [{"name": "MODEL_URI", "value": "models:/x/1"}]}),
            "spec.server: env must not set a variable the operator sets: MODEL_URI",
            id="env-overrides-model-uri",
        ),
        pytest.param(
            with_changes("server", {"env": [{"name": "A"}, {"name": "A", "value": "2"}]}),
            "spec.server: env names must be unique: A",
            id="env-duplicate",
        ),
        pytest.param(
            with_changes("server", {"resources": {"requests": {"cpu": "lots"}}}),
            "spec.server.resources.requests.cpu: 'lots' is not a Kubernetes quantity",
            id="bad-quantity",
        ),
        pytest.param(
            with_changes("monitoring", {"interval": "30 seconds"}),
            "spec.monitoring.interval: String should match pattern",
            id="bad-duration",
        ),
        pytest.param(
            with_changes("registry.credentialsSecret", "Not_A_Name"),
            "spec.registry.credentialsSecret: String should match pattern",
            id="bad-secret-name",
        ),
        pytest.param(
            with_changes("model.name", "imdb\nsentiment"),
            "spec.model.name: must not contain '/', a newline or another control character "
            "(got 'imdb\\nsentiment')",
            id="newline-in-model-name",
        ),
        pytest.param(
            with_changes("model.name", "imdb\x1b[31m"),
            "spec.model.name: must not contain '/', a newline or another control character",
            id="control-character-in-model-name",
        ),
        pytest.param(
            with_changes("server", {"image": "ghcr.io/Org/server:1"}),
            "spec.server.image: must be an image reference [registry[:port]/]path[:tag][@digest]",
            id="upper-case-image-path",
        ),
        pytest.param(
            with_changes("server", {"image": "model server:1"}),
            "spec.server.image: must be an image reference",
            id="space-in-image",
        ),
        pytest.param(
            with_changes("server", {"image": "server@sha256:abc"}),
            "spec.server.image: must be an image reference",
            id="short-digest",
        ),
        pytest.param(
            with_changes("monitoring", {"labels": {"team name": "ml"}}),
            "spec.monitoring.labels: label keys must be [prefix/]name: an optional DNS-subdomain "
            "prefix of at most 253 characters, then a name of at most 63",
            id="space-in-label-key",
        ),
        pytest.param(
            with_changes("monitoring", {"labels": {"x" * 64: "ml"}}),
            "spec.monitoring.labels: label keys must be [prefix/]name",
            id="label-name-too-long",
        ),
        pytest.param(
            with_changes("monitoring", {"labels": {"Example.com/team": "ml"}}),
            "spec.monitoring.labels: label keys must be [prefix/]name",
            id="upper-case-label-prefix",
        ),
        pytest.param(
            with_changes("monitoring", {"labels": {"release": "kube prometheus"}}),
            "spec.monitoring.labels.release: a label value must be empty or A-Z, a-z, 0-9",
            id="space-in-label-value",
        ),
        pytest.param(
            with_changes("monitoring", {"labels": {"release": "x" * 64}}),
            "spec.monitoring.labels.release: String should have at most 63 characters",
            id="label-value-too-long",
        ),
    ],
)
def test_invalid_spec_is_reported_with_its_path(raw: dict[str, Any], expected: str) -> None:
    problems = problems_of(raw)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_every_problem_is_listed_in_one_paragraph() -> None:
    raw = with_changes("model.alias", "champion")
    raw["server"] = {"replicas": -1, "colour": "blue"}
    raw["autoscaling"] = {"minReplicas": 9, "maxReplicas": 2}

    with pytest.raises(SpecError) as caught:
        parse_spec(raw)

    error = caught.value
    assert isinstance(error, ValueError)
    assert len(error.problems) == 4
    message = str(error)
    assert message.startswith("invalid SentimentModel spec (4 problems): ")
    assert "\n" not in message
    for problem in error.problems:
        assert problem in message


def test_integer_quantities_are_accepted() -> None:
    spec = parse_spec(with_changes("server", {"resources": {"requests": {"cpu": 1}}}))
    assert spec.server.resources.requests == {"cpu": 1}
    assert spec.server.resources.limits == {}


def test_reserved_env_names_match_what_the_operator_sets() -> None:
    assert set(RESERVED_ENV) == {
        "MODEL_URI",
        "MODEL_NAME",
        "MODEL_VERSION",
        "MLFLOW_TRACKING_URI",
        "PORT",
        "WORKERS",
        "PROMETHEUS_MULTIPROC_DIR",
        "HOME",
    }


def test_parse_spec_accepts_read_only_mapping_views() -> None:
    from types import MappingProxyType

    raw = MappingProxyType(
        {
            "model": MappingProxyType({"name": "m", "stage": "Staging"}),
            "registry": MappingProxyType({"trackingUri": "http://mlflow:5000"}),
            "server": {"env": ({"name": "LOG_LEVEL", "value": "debug"},)},
        }
    )
    spec = parse_spec(raw)
    assert spec.server.env[0].name == "LOG_LEVEL"


def test_status_dumps_to_camel_case_without_unset_fields() -> None:
    status = SentimentModelStatus(resolved_version="3", model_uri="models:/m/3", ready_replicas=1)
    assert status.model_dump(by_alias=True, exclude_none=True, mode="json") == {
        "resolvedVersion": "3",
        "modelUri": "models:/m/3",
        "readyReplicas": 1,
        "conditions": [],
    }


T0 = datetime(2025, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_set_condition_appends_a_new_type() -> None:
    conditions = set_condition([], "Ready", "False", "Progressing", "rolling out 3", T0, 2)
    assert conditions == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Progressing",
            "message": "rolling out 3",
            "lastTransitionTime": "2025-01-01T12:00:00Z",
            "observedGeneration": 2,
        }
    ]


def test_set_condition_keeps_transition_time_while_status_holds() -> None:
    first = set_condition([], "Ready", "False", "Progressing", "rolling out", T0)
    later = set_condition(first, "Ready", "False", "Degraded", "stuck", T0 + timedelta(hours=1))
    assert later[0]["lastTransitionTime"] == "2025-01-01T12:00:00Z"
    assert (later[0]["reason"], later[0]["message"]) == ("Degraded", "stuck")


def test_set_condition_moves_transition_time_when_status_changes() -> None:
    first = set_condition([], "Ready", "False", "Progressing", "rolling out", T0)
    later = set_condition(first, "Ready", "True", "Available", "serving 3", T0 + timedelta(hours=1))
    assert later[0]["lastTransitionTime"] == "2025-01-01T13:00:00Z"


def test_set_condition_keeps_other_conditions_in_place() -> None:
    start = set_condition([], "ModelResolved", "True", "Resolved", "3", T0)
    start = set_condition(start, "Ready", "False", "Progressing", "", T0)
    updated = set_condition(start, "ModelResolved", "False", "RegistryUnreachable", "down", T0)
    assert [c["type"] for c in updated] == ["ModelResolved", "Ready"]
    assert updated[1] == start[1]
    assert start[0]["status"] == "True"  # the input is not modified


def test_set_condition_accepts_models_and_converts_time_zones() -> None:
    existing = Condition(
        type="Ready",
        status="True",
        reason="Available",
        last_transition_time=T0.replace(microsecond=0),
    )
    offset = T0.astimezone(timezone(timedelta(hours=2)))
    updated = set_condition([existing], "Degraded", "False", "Healthy", "", offset)
    assert updated[0]["lastTransitionTime"] == "2025-01-01T12:00:00Z"
    assert updated[1]["lastTransitionTime"] == "2025-01-01T12:00:00Z"


def test_set_condition_refuses_naive_times_and_bad_reasons() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        set_condition([], "Ready", "True", "Available", "", datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="reason"):
        set_condition([], "Ready", "True", "not camel case", "", T0)


@pytest.mark.parametrize(
    "image",
    [
        "python",
        "ghcr.io/sentiment-operator/model-server:0.1.0",
        "localhost:5000/model_server:v1.2-rc.1",
        "registry.example.com:443/team/model-server@sha256:" + "0" * 64,
        "Registry.Example.com/a/b__c/d-e:latest@sha256:" + "a" * 64,
    ],
)
def test_image_references_are_accepted(image: str) -> None:
    assert parse_spec(with_changes("server", {"image": image})).server.image == image


@pytest.mark.parametrize(
    "labels",
    [
        {"release": "kube-prometheus-stack"},
        {"example.com/team": "ml", "app.kubernetes.io/part-of": "reviews"},
        {"a" * 63: "b" * 63},
        {"x": ""},
    ],
)
def test_label_keys_and_values_are_accepted(labels: dict[str, str]) -> None:
    assert parse_spec(with_changes("monitoring", {"labels": labels})).monitoring.labels == labels


def test_model_names_may_hold_spaces_and_unicode() -> None:
    assert (
        parse_spec(with_changes("model.name", "IMDB sentiment é")).model.name == "IMDB sentiment é"
    )


SECRET = "hunter2-s3cr3t"
USE_THE_SECRET = "use registry.credentialsSecret"
URL_MESSAGE = (
    "spec.registry.trackingUri: trackingUri must not carry credentials (user info, or a token, "
    "key or password parameter): use registry.credentialsSecret"
)


@pytest.mark.parametrize(
    "uri",
    [
        f"https://user:{SECRET}@mlflow.example.com",
        f"https://{SECRET}@dagshub.com/u/r.mlflow",
        f"http://mlflow:5000/?token={SECRET}",
        f"http://mlflow:5000/api?x=1&access_token={SECRET}",
        f"http://mlflow:5000/?PASSWORD={SECRET}",
        f"http://mlflow:5000/?api-key={SECRET}",
        f"http://mlflow:5000/?key={SECRET}",
        f"https://store.blob.core.windows.net/c?sv=2024&sig={SECRET}",
        f"https://bucket.s3.amazonaws.com/?X-Amz-Credential={SECRET}",
    ],
)
def test_credentials_in_the_tracking_uri_are_refused_unrepeated(uri: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(with_changes("registry.trackingUri", uri))
    assert caught.value.problems == [URL_MESSAGE]
    assert SECRET not in str(caught.value)


def test_a_malformed_uri_with_credentials_is_not_repeated_either() -> None:
    problems = problems_of(with_changes("registry.trackingUri", f"https://u:{SECRET}@x y"))
    assert problems == ["spec.registry.trackingUri: String should match pattern '^https?://\\S+$'"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://mlflow.mlflow.svc:5000",
        "https://dagshub.com/user/repo.mlflow",
        "http://mlflow:5000/models/a@b",  # '@' after the host is not user info
        "http://mlflow:5000/?monkey=1&tokens_seen",  # no value, and key only as a suffix
    ],
)
def test_tracking_uris_without_credentials_are_accepted(uri: str) -> None:
    assert parse_spec(with_changes("registry.trackingUri", uri)).registry.tracking_uri == uri


@pytest.mark.parametrize(
    "name",
    [
        *KNOWN_CREDENTIAL_ENV,
        "mlflow_tracking_password",
        "PGPASSWORD",
        "HF_TOKEN",
        "GITHUB_TOKEN_CLASSIC",
        "OPENAI_API_KEY",
        "STRIPE_APIKEY",
        "SSH_PRIVATE_KEY",
        "KEY",
        "DJANGO_SECRET",
    ],
)
def test_credential_variables_in_env_are_refused_unrepeated(name: str) -> None:
    raw = with_changes("server", {"env": [{"name": "LOG_LEVEL"}, {"name": name, "value": SECRET}]})
    with pytest.raises(SpecError) as caught:
        parse_spec(raw)
    assert caught.value.problems == [
        "spec.server.env.1.name: env must not set a credential variable: " + USE_THE_SECRET
    ]
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "name",
    [
        "LOG_LEVEL",
        "TOKENIZERS_PARALLELISM",
        "MAX_TOKENS",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "DB_PASSWORD_FILE",
        "SSL_KEY_PATH",
        "SECRETS_DIR",
        "KEYBOARD",
        "MONKEY_BUSINESS",
    ],
)
def test_other_variables_in_env_are_accepted(name: str) -> None:
    spec = parse_spec(with_changes("server", {"env": [{"name": name, "value": "v"}]}))
    assert spec.server.env[0].name == name


def test_a_problem_stays_on_one_line_and_long_values_are_cut() -> None:
    raw = with_changes("monitoring", {"labels": {"a\nb": "x"}})
    raw["server"] = {"image": "x" * 400 + " y", "b\nc": 1}
    with pytest.raises(SpecError) as caught:
        parse_spec(raw)
    message = str(caught.value)
    assert "\n" not in message
    assert "(got 'a\\nb')" in message
    assert "spec.server.'b\\nc': Extra inputs are not permitted" in message
    assert "(got '" + "x" * 76 + "...)" in message
    assert "x" * 100 not in message
