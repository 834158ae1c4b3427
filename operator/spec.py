"""The SentimentModel resource: its spec as pydantic models (the status: ``status_model``).

These models are the single source of truth for the resource: the operator parses
every spec with them, and the CRD's OpenAPI schema (``crd.build_crd``) is generated
from them. Cross-field rules live twice on purpose: as pydantic validators for the
operator and the ``render`` CLI, and as ``x-kubernetes-validations`` CEL rules so that
the API server rejects the same specs at ``kubectl apply`` time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from sentiment_operator.rules import (
    CREDENTIALS_ERROR,
    DECIMAL,
    DNS_SUBDOMAIN,
    DURATION,
    ENV_CREDENTIALS,
    HTTP_URL,
    IMAGE,
    LABEL_KEY,
    LABEL_KEY_LENGTHS,
    LABEL_VALUE,
    LABEL_VALUE_MAX_LENGTH,
    MODEL_NAME,
    QUANTITY,
    URL_CREDENTIALS,
    Pattern,
    cel_regex,
    valid_label_key,
)

from model_server.contract import OPERATOR_ENV

GROUP = "mlops.sentiment-operator.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "SentimentModel"
PLURAL = "sentimentmodels"
SINGULAR = "sentimentmodel"
SHORT_NAMES = ["sm", "smodel"]

# Set by the operator on the model-server container; a user env entry may not shadow them.
RESERVED_ENV = OPERATOR_ENV

Stage = Literal["Staging", "Production"]


def _check_quantity(value: int | str) -> int | str:
    if isinstance(value, str) and not re.fullmatch(QUANTITY, value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 250m, 512Mi, 2)")
    return value


Quantity = Annotated[
    int | str,
    AfterValidator(_check_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY,
            "x-kubernetes-int-or-string": True,
        }
    ),
]


def _rule(rule: str, message: str) -> dict[str, Any]:
    return {"x-kubernetes-validations": [{"rule": rule, "message": message}]}


class _SpecModel(BaseModel):
    """Wire names are camelCase; unknown fields and type coercion are refused, like the API."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        frozen=True,
    )


_MODEL_NAME_MESSAGE = "must not contain '/', a newline or another control character"


class ModelRef(_SpecModel):
    """Which registered model version to serve: a stage or an alias of a registered model."""

    model_config = ConfigDict(
        json_schema_extra=_rule(
            "has(self.stage) != has(self.alias)", "exactly one of stage and alias must be set"
        )
    )

    name: Annotated[str, Pattern(MODEL_NAME, _MODEL_NAME_MESSAGE)] = Field(
        min_length=1,
        max_length=256,
        description="Name of the registered model in the MLflow Model Registry: no '/', "
        "newline or other control character.",
    )
    stage: Stage | None = Field(
        default=None,
        description="Registry stage whose latest version is served. "
        "Exactly one of stage and alias.",
    )
    alias: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Registered-model alias (e.g. champion) whose version is served. "
        "Exactly one of stage and alias.",
    )

    @model_validator(mode="after")
    def _exactly_one_selector(self) -> Self:
        if (self.stage is None) == (self.alias is None):
            raise ValueError("exactly one of stage and alias must be set")
        return self


class RegistrySpec(_SpecModel):
    """Where the MLflow Model Registry is and how to authenticate to it."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [URL_CREDENTIALS.cel_rule("trackingUri")]}
    )

    tracking_uri: Annotated[str, URL_CREDENTIALS] = Field(
        pattern=HTTP_URL,
        max_length=2048,
        description="MLflow tracking server URL, reachable from the operator and the pods. "
        "Without credentials: no user info (user:password@) and no token, key, password, "
        "secret, signature or credential parameter; those go in credentialsSecret.",
    )
    credentials_secret: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="Name of a Secret in the resource's namespace holding MLflow credentials "
        "(MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN). "
        "Passed to the pods as environment variables (every key of the Secret, so artifact "
        "store keys such as AWS_SECRET_ACCESS_KEY go here too) and read by the operator. "
        "The only place for credentials: trackingUri and server.env refuse them.",
    )
    poll_interval_seconds: int = Field(
        default=30,
        ge=5,
        le=3600,
        description="How often the operator asks the registry which version the stage or "
        "alias points to.",
    )


class ResourcesSpec(_SpecModel):
    """Compute resources of the model-server container (a core/v1 ResourceRequirements)."""

    requests: dict[str, Quantity] = Field(
        default_factory=dict,
        description="Minimum resources the scheduler reserves, e.g. cpu: 250m, memory: 512Mi.",
    )
    limits: dict[str, Quantity] = Field(
        default_factory=dict, description="Maximum resources the container may use."
    )


def _default_resources() -> ResourcesSpec:
    return ResourcesSpec(requests={"cpu": "250m", "memory": "512Mi"}, limits={"memory": "1Gi"})


class EnvVar(_SpecModel):
    """A plain environment variable for the model-server container."""

    name: Annotated[str, ENV_CREDENTIALS] = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Variable name; must not be one the operator sets itself, nor a "
        "credential, which belongs in registry.credentialsSecret: in any case, "
        "MLFLOW_TRACKING_USERNAME and names containing PASSW, SECRET, CONNECTION_STRING or "
        "APIKEY, with TOKEN as a word, or ending in _KEY or _KEY_ID are refused, unless they "
        "end in _FILE, _PATH or _DIR (a path, not a secret).",
        json_schema_extra={"x-kubernetes-validations": [ENV_CREDENTIALS.cel_rule()]},
    )
    value: str = Field(default="", max_length=4096, description="Variable value.")


_RESERVED_ENV_CEL = ", ".join(f"'{name}'" for name in RESERVED_ENV)


_IMAGE_MESSAGE = (
    "must be an image reference [registry[:port]/]path[:tag][@digest]: a lower-case path, no spaces"
)


_LABEL_KEY_MESSAGE = (
    "label keys must be [prefix/]name: an optional DNS-subdomain prefix of at most 253 "
    "characters, then a name of at most 63 of A-Z, a-z, 0-9, '-', '_' and '.', beginning and "
    "ending with a letter or digit"
)
LabelValue = Annotated[
    str,
    Field(max_length=LABEL_VALUE_MAX_LENGTH),
    Pattern(
        LABEL_VALUE,
        "a label value must be empty or A-Z, a-z, 0-9, '-', '_' and '.', beginning and "
        "ending with a letter or digit",
    ),
]


def _check_label_keys(labels: dict[str, str]) -> dict[str, str]:
    bad = [key for key in labels if not valid_label_key(key)]
    if bad:
        raise ValueError(f"{_LABEL_KEY_MESSAGE} (got {', '.join(map(repr, bad))})")
    return labels


LabelMap = Annotated[dict[str, LabelValue], AfterValidator(_check_label_keys)]


def _label_map(description: str) -> Any:
    """A field of Kubernetes labels, checked at admission and by pydantic alike."""
    return Field(
        default_factory=dict,
        max_length=32,
        description=f"{description} Keys and values must be valid Kubernetes label keys "
        "and values.",
        json_schema_extra=_rule(
            f"self.all(k, k.matches({cel_regex(LABEL_KEY)})"
            f" && k.matches({cel_regex(LABEL_KEY_LENGTHS)}))",
            _LABEL_KEY_MESSAGE,
        ),
    )


class Toleration(_SpecModel):
    """A core/v1 Toleration: lets the pods run on nodes with a matching taint."""

    key: str | None = Field(
        default=None, max_length=316, description="Taint key; empty with Exists matches all."
    )
    operator: Literal["Equal", "Exists"] = Field(
        default="Equal", description="Equal compares the value; Exists matches any value."
    )
    value: str | None = Field(default=None, max_length=63, description="Taint value.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to tolerate; empty matches all."
    )
    toleration_seconds: int | None = Field(
        default=None, ge=0, description="For NoExecute: how long the pod stays once tainted."
    )


def _kubernetes_object(description: str) -> Any:
    """A core/v1 object passed to the pods as given; the API server validates it there."""
    return WithJsonSchema(
        {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "description": description}
    )


Affinity = Annotated[
    dict[str, Any],
    _kubernetes_object(
        "A core/v1 Affinity (nodeAffinity, podAffinity, podAntiAffinity) for the pods."
    ),
]
SpreadConstraint = Annotated[
    dict[str, Any], _kubernetes_object("A core/v1 TopologySpreadConstraint for the pods.")
]
_AFFINITY_KEYS = ("nodeAffinity", "podAffinity", "podAntiAffinity")


class ServerSpec(_SpecModel):
    """The model-server pods."""

    image: Annotated[str, Pattern(IMAGE, _IMAGE_MESSAGE)] | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="Model-server container image, [registry[:port]/]path[:tag][@digest] "
        "with a lower-case path. Defaults to the operator's default image.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", description="When the kubelet pulls the image."
    )
    replicas: int = Field(
        default=1,
        ge=0,
        le=100,
        description="Number of pods. Ignored while autoscaling is enabled (KEDA owns replicas).",
    )
    workers: int = Field(
        default=2, ge=1, le=32, description="gunicorn worker processes per pod (env WORKERS)."
    )
    port: int = Field(
        default=8080,
        ge=1024,
        le=65535,
        description="Container port named http. At least 1024: the container runs as non-root "
        "without capabilities.",
    )
    service_account_name: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="ServiceAccount the pods run as, e.g. one bound to a cloud identity for "
        "reading model artifacts (workload identity). Defaults to the namespace's default.",
    )
    node_selector: LabelMap = _label_map("Node labels the pods must be scheduled on.")
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=32, description="Taints the pods tolerate."
    )
    affinity: Affinity | None = Field(
        default=None, description="Node and pod affinity rules of the pods."
    )
    topology_spread_constraints: list[SpreadConstraint] = Field(
        default_factory=list,
        max_length=8,
        description="How the pods spread over zones or nodes.",
    )
    resources: ResourcesSpec = Field(
        default_factory=_default_resources,
        description="Compute resources of the container. Replaces the defaults as a whole "
        "when given.",
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=64,
        description="Extra environment variables for the container. MODEL_URI and the other "
        "variables set by the operator cannot be overridden, and credentials cannot be set "
        "here: they belong in registry.credentialsSecret.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            **_rule(
                f"self.all(e, !(e.name in [{_RESERVED_ENV_CEL}]))",
                "env must not set a variable the operator sets: " + ", ".join(RESERVED_ENV),
            ),
        },
    )

    @model_validator(mode="after")
    def _affinity_kinds(self) -> Self:
        unknown = sorted(set(self.affinity or {}) - set(_AFFINITY_KEYS))
        if unknown:
            raise ValueError(
                f"affinity takes {', '.join(_AFFINITY_KEYS)}, not {', '.join(unknown)}"
            )
        return self

    @model_validator(mode="after")
    def _env_names_free(self) -> Self:
        names = [variable.name for variable in self.env]
        reserved = sorted(set(names) & set(RESERVED_ENV))
        if reserved:
            raise ValueError(
                f"env must not set a variable the operator sets: {', '.join(reserved)}"
            )
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"env names must be unique: {', '.join(duplicates)}")
        return self


class ServiceSpec(_SpecModel):
    """The Service in front of the model-server pods."""

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        default="ClusterIP", description="Service type."
    )
    port: int = Field(default=80, ge=1, le=65535, description="Service port (named http).")


class RolloutSpec(_SpecModel):
    """How a new model version rolls out."""

    progress_deadline_seconds: int = Field(
        default=300,
        ge=30,
        le=3600,
        description="Seconds a rollout may make no progress before it is reported as failed.",
    )


class PrometheusTrigger(_SpecModel):
    """Reactive KEDA trigger on the prediction rate measured by Prometheus."""

    server_address: str = Field(
        default="http://prometheus-operated.monitoring.svc:9090",
        pattern=HTTP_URL,
        max_length=2048,
        description="Prometheus server URL queried by KEDA.",
    )
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL query; defaults to this model's predictions per second.",
    )
    threshold: str = Field(
        default="10", pattern=DECIMAL, description="Target value of the query per replica."
    )
    activation_threshold: str = Field(
        default="1", pattern=DECIMAL, description="Value above which scaling from zero starts."
    )


class SecretKeyRef(_SpecModel):
    """A key of a Secret in the resource's namespace."""

    name: str = Field(max_length=253, pattern=DNS_SUBDOMAIN, description="Secret name.")
    key: str = Field(
        max_length=253, pattern=r"^[-._a-zA-Z0-9]+$", description="Key within the Secret."
    )


class PredictKubeTrigger(_SpecModel):
    """Predictive KEDA trigger (PredictKube) forecasting the prediction rate."""

    enabled: bool = Field(default=False, description="Add the PredictKube trigger.")
    api_key_secret: SecretKeyRef = Field(
        default_factory=lambda: SecretKeyRef(name="predictkube-api-key", key="apiKey"),
        description="Secret key holding the PredictKube API key.",
    )
    predict_horizon: str = Field(
        default="2h", pattern=DURATION, description="How far ahead to forecast."
    )
    history_time_window: str = Field(
        default="7d", pattern=DURATION, description="How much history the forecast uses."
    )
    query_step: str = Field(
        default="2m", pattern=DURATION, description="Resolution of the history query."
    )
    threshold: str = Field(
        default="10", pattern=DECIMAL, description="Target forecast value per replica."
    )
    activation_threshold: str = Field(
        default="1", pattern=DECIMAL, description="Forecast value above which scaling starts."
    )
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="PromQL query to forecast; defaults to this model's predictions per second.",
    )


class AutoscalingSpec(_SpecModel):
    """KEDA autoscaling of the model-server Deployment."""

    model_config = ConfigDict(
        # The apiserver checks the section's `{}` default against this rule before any
        # nested default fills it in, so the rule must hold with either field absent.
        json_schema_extra=_rule(
            "!has(self.minReplicas) || !has(self.maxReplicas)"
            " || self.minReplicas <= self.maxReplicas",
            "minReplicas must be less than or equal to maxReplicas",
        )
    )

    enabled: bool = Field(
        default=False, description="Scale with a KEDA ScaledObject instead of server.replicas."
    )
    min_replicas: int = Field(default=1, ge=0, le=100, description="Fewest replicas.")
    max_replicas: int = Field(default=5, ge=1, le=100, description="Most replicas.")
    polling_interval: int = Field(
        default=15, ge=1, le=3600, description="Seconds between KEDA trigger checks."
    )
    cooldown_period: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="Seconds after the last active trigger before scaling to minReplicas.",
    )
    prometheus: PrometheusTrigger = Field(
        default_factory=PrometheusTrigger, description="Reactive Prometheus trigger."
    )
    predictkube: PredictKubeTrigger = Field(
        default_factory=PredictKubeTrigger, description="Predictive PredictKube trigger."
    )

    @model_validator(mode="after")
    def _min_le_max(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas ({self.min_replicas}) must be less than or equal to "
                f"maxReplicas ({self.max_replicas})"
            )
        return self


class MonitoringSpec(_SpecModel):
    """Prometheus Operator scraping and the Grafana dashboard."""

    enabled: bool = Field(default=False, description="Create a ServiceMonitor for the pods.")
    interval: str = Field(default="30s", pattern=DURATION, description="Scrape interval.")
    labels: LabelMap = _label_map(
        "Extra ServiceMonitor labels, e.g. release: kube-prometheus-stack."
    )
    dashboard: bool = Field(default=False, description="Create a Grafana dashboard ConfigMap.")


class IstioSpec(_SpecModel):
    """Istio service-mesh integration."""

    enabled: bool = Field(default=False, description="Inject the Istio sidecar into the pods.")


class SentimentModelSpec(_SpecModel):
    """Serve a registered MLflow model version, chosen by stage or alias, on Kubernetes."""

    model: ModelRef = Field(description="The registered model and the stage or alias to serve.")
    registry: RegistrySpec = Field(description="The MLflow Model Registry to resolve it in.")
    server: ServerSpec = Field(default_factory=ServerSpec, description="The model-server pods.")
    service: ServiceSpec = Field(
        default_factory=ServiceSpec, description="The Service in front of the pods."
    )
    rollout: RolloutSpec = Field(
        default_factory=RolloutSpec, description="How a new model version rolls out."
    )
    autoscaling: AutoscalingSpec = Field(
        default_factory=AutoscalingSpec, description="KEDA autoscaling."
    )
    monitoring: MonitoringSpec = Field(
        default_factory=MonitoringSpec, description="Prometheus Operator monitoring."
    )
    istio: IstioSpec = Field(default_factory=IstioSpec, description="Istio integration.")


class SpecError(ValueError):
    """A SentimentModel spec that does not validate; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        super().__init__(f"invalid {KIND} spec ({count}): " + "; ".join(problems) + ".")


def _plain(value: Any) -> Any:
    """Deep-copy mapping/list views (kopf's bodies) into the dicts and lists pydantic expects."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


_ECHO_MAX_CHARS = 80


def _location(part: str | int) -> str:
    """One part of an error's path, quoted when it would break the line (a map key)."""
    text = str(part)
    return text if text.isprintable() else repr(text)


def _describe(error: Mapping[str, Any]) -> str:
    """One problem on one line: where, what, and the offending value unless it may be secret."""
    where = ".".join(["spec", *(_location(part) for part in error["loc"])])
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    if (
        error["type"] in ("missing", CREDENTIALS_ERROR)
        or not isinstance(given, str | int | float | bool)
        or (isinstance(given, str) and URL_CREDENTIALS.refuses(given))
    ):
        return f"{where}: {message}"
    shown = repr(given)
    if len(shown) > _ECHO_MAX_CHARS:
        shown = shown[: _ECHO_MAX_CHARS - 3] + "..."
    return f"{where}: {message} (got {shown})"


def parse_spec(raw: Mapping[str, Any]) -> SentimentModelSpec:
    """Validate a wire-format (camelCase) spec; raise ``SpecError`` listing every problem."""
    try:
        return SentimentModelSpec.model_validate(_plain(raw))
    except ValidationError as error:
        raise SpecError([_describe(detail) for detail in error.errors()]) from None
