"""The interface between the operator and the model server: names both sides must agree on.

Standard library only and no project imports: the operator image installs neither
Flask nor scikit-learn, yet imports this module.
"""

from __future__ import annotations

from typing import Final

# -- environment variables the operator sets on the server container ---------------
ENV_MODEL_URI: Final = "MODEL_URI"
ENV_MODEL_NAME: Final = "MODEL_NAME"
ENV_MODEL_VERSION: Final = "MODEL_VERSION"
ENV_TRACKING_URI: Final = "MLFLOW_TRACKING_URI"
ENV_PORT: Final = "PORT"
ENV_WORKERS: Final = "WORKERS"
ENV_METRICS_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"
ENV_HOME: Final = "HOME"
#: Set by the operator; a user's env entry may not shadow them.
OPERATOR_ENV: Final = (
    ENV_MODEL_URI,
    ENV_MODEL_NAME,
    ENV_MODEL_VERSION,
    ENV_TRACKING_URI,
    ENV_PORT,
    ENV_WORKERS,
    ENV_METRICS_DIR,
    ENV_HOME,
)

# -- the HTTP side -------------------------------------------------------------------
DEFAULT_PORT: Final = 8080
PORT_NAME: Final = "http"
LIVENESS_PATH: Final = "/healthz"
READINESS_PATH: Final = "/readyz"
METRICS_PATH: Final = "/metrics"
#: Seconds the server finishes in-flight requests after SIGTERM before it exits.
GRACEFUL_SHUTDOWN_SECONDS: Final = 20

# -- Prometheus series (exposition names: counters gain ``_total``) ----------------------
REQUESTS_METRIC: Final = "sentiment_requests"
REQUESTS_SERIES: Final = "sentiment_requests_total"
LATENCY_METRIC: Final = "sentiment_request_duration_seconds"
LATENCY_BUCKETS_SERIES: Final = "sentiment_request_duration_seconds_bucket"
PREDICTIONS_METRIC: Final = "sentiment_predictions"
PREDICTIONS_SERIES: Final = "sentiment_predictions_total"
MODEL_INFO_METRIC: Final = "sentiment_model_info"
METRIC_PREFIX: Final = "sentiment_"

LABEL_METHOD: Final = "method"
LABEL_ENDPOINT: Final = "endpoint"
LABEL_STATUS: Final = "status"
LABEL_PREDICTED_CLASS: Final = "predicted_class"
LABEL_MODEL_NAME: Final = "model_name"
LABEL_MODEL_VERSION: Final = "model_version"
LABEL_RUN_ID: Final = "run_id"
