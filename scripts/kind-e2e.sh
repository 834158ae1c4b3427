#!/usr/bin/env bash
# The whole loop on a kind cluster, end to end: the CI job `kind` runs this, and so can
# you (after `make install`, with Docker, kind and kubectl on PATH):
#
#   scripts/kind-e2e.sh               the walk-through below
#   scripts/kind-e2e.sh diagnostics   only collect the diagnostics into LOG_DIR (what CI
#                                     runs after a failure, a timeout or a cancel)
#   scripts/kind-e2e.sh fetch URL     download URL into DOWNLOAD_CACHE unless it is there;
#                                     print the local path (CI fetches the data first)
#
#  1. create the kind cluster from examples/kind-cluster.yaml (unless it exists)
#  2. build both images under the names the manifests use, `kind load` them
#  3. install the ServiceMonitor, ScaledObject and TriggerAuthentication CRDs, at the
#     KEDA and Prometheus Operator versions of cluster/versions.py (the local cluster's)
#  4. install the operator (kubectl apply -k deploy/) and MLflow (examples/)
#  5. run the DVC pipeline on a small sample against MLflow, point @champion at v1
#  6. apply examples/sentimentmodel-kind.yaml, wait for Ready, check every child
#  7. curl /predict through a port-forward to a pod of v1: v1 answers
#  8. train and promote v2, wait until the operator has rolled it out
#  9. wait until no pod of v1 is left, curl /predict through a pod of v2: v2 answers
# 10. delete the resource and wait until garbage collection removed every child
#
# On failure, `kubectl describe` output, pod logs, events and `kind export logs` land in
# ./kind-logs/ (the CI job uploads it). Every wait has a timeout. Interrupted (Ctrl-C,
# SIGTERM) it only cleans up: run `scripts/kind-e2e.sh diagnostics` for the logs.
#
# The pipeline runs in this working copy with a small sample: params.yaml and dvc.lock
# are restored on exit; data/, models/ and reports/ keep the sample run's outputs
# (`dvc repro` rebuilds them from params.yaml). The cluster is left running; remove it
# with `kind delete cluster --name sentiment`.
#
# Environment (all optional):
#   KIND_CLUSTER   cluster name (default: sentiment)
#   DATA_SOURCE    reviews CSV or Stanford tarball, a path or an http(s) URL (default:
#                  ../shared/datasets/imdb/train.csv.gz when present, else ingest.source
#                  of params.yaml); a URL is downloaded once into DOWNLOAD_CACHE
#   DOWNLOAD_CACHE where downloads are kept between runs (default:
#                  ${XDG_CACHE_HOME:-~/.cache}/sentiment-operator/downloads; CI caches it)
#   SAMPLE_ROWS    reviews the pipeline uses (default: 2000)
#   MLFLOW_PORT    local port of the MLflow port-forward (default: 5000)
#   MODEL_PORT     local port of the model port-forward (default: 8080)
#   LOG_DIR        where diagnostics go on failure (default: ./kind-logs)
set -Eeuo pipefail

INVOKED_FROM=$PWD
# BASH_SOURCE, not $0: the unit tests source this file to run its exit path.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

KIND_CLUSTER=${KIND_CLUSTER:-sentiment}
SAMPLE_ROWS=${SAMPLE_ROWS:-2000}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
MODEL_PORT=${MODEL_PORT:-8080}
LOG_DIR=${LOG_DIR:-$ROOT/kind-logs}
DOWNLOAD_CACHE=${DOWNLOAD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sentiment-operator/downloads}
VENV=$ROOT/.venv
PY=$VENV/bin/python

# The resource the walk-through applies; its name, namespace, model, Service port and
# model-server image are read from it (read_resource). deploy/ names the operator image.
RESOURCE_FILE=examples/sentimentmodel-kind.yaml
OPERATOR_NAMESPACE=sentiment-operator
REVIEW="One of the best films I have seen in years: moving, funny and beautifully acted."
# Children of the resource, all labelled app.kubernetes.io/instance=<resource name>;
# garbage collection must remove every one of them.
CHILD_KINDS=deployments,replicasets,pods,services,configmaps,servicemonitors.monitoring.coreos.com,scaledobjects.keda.sh,triggerauthentications.keda.sh
# The labels the operator puts on every model-server pod (operator/render/labels.py).
INSTANCE_LABEL=app.kubernetes.io/instance
VERSION_LABEL=app.kubernetes.io/version

# Set once the run gets that far; the exit path must work with any of them still empty.
RESOURCE=
NAMESPACE=
MODEL_NAME=
SERVICE_PORT=
SERVER_IMAGE=
WORK=
MLFLOW_PF_PID=
MODEL_PF_PID=
# Written last by collect_diagnostics: `diagnostics` does not collect twice.
COLLECTED_MARKER=.collected

step() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() {
  echo "FAILED: $*" >&2
  exit 1
}
# Every kubectl call goes to the kind cluster, whatever the current context is.
REQUEST_TIMEOUT=
k() { kubectl --context "kind-${KIND_CLUSTER:-sentiment}" ${REQUEST_TIMEOUT:+"--request-timeout=$REQUEST_TIMEOUT"} "$@"; }

# wait_for SECONDS WHAT COMMAND...: run COMMAND every 2 s until it succeeds; after
# SECONDS, say so and return 1.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "timed out after ${seconds}s waiting for $what" >&2
      return 1
    fi
    sleep 2
  done
}

# port_forward PID_VARIABLE NAMESPACE TARGET LOCAL_PORT REMOTE_PORT PROBE_PATH: start a
# port-forward in the background, store its PID in PID_VARIABLE (for `stop` and the
# exit trap) and wait until PROBE_PATH answers through it.
port_forward() {
  local pid_variable=$1 namespace=$2 target=$3 local_port=$4 remote_port=$5 probe=$6
  local log=$WORK/port-forward-${target#*/}.log
  # kubectl itself, not the k function: $! must be kubectl's PID for kill to stop it.
  kubectl --context "kind-$KIND_CLUSTER" -n "$namespace" port-forward --address 127.0.0.1 \
    "$target" "$local_port:$remote_port" >>"$log" 2>&1 &
  local pid=$! deadline=$((SECONDS + 60))
  printf -v "$pid_variable" '%s' "$pid"
  until answers "$local_port" "$probe"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log" >&2
      echo "port-forward to $namespace/$target exited" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "timed out after 60s waiting for $probe through the port-forward to $namespace/$target" >&2
      return 1
    fi
    sleep 1
  done
}

# answers LOCAL_PORT PROBE_PATH: whether PROBE_PATH answers 2xx on 127.0.0.1:LOCAL_PORT.
answers() {
  curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$1$2" 2>/dev/null
}

# ensure_port_forward PID_VARIABLE NAMESPACE TARGET LOCAL_PORT REMOTE_PORT PROBE_PATH: the
# same, but keep a running port-forward when PROBE_PATH still answers through it. Since
# kubectl 1.23 a port-forward exits on the first stream error (a pod restart, a dropped
# connection), so a long-lived one is checked, and restarted, before each use.
ensure_port_forward() {
  local pid_variable=$1 local_port=$4 probe=$6
  local pid=${!pid_variable:-}
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && answers "$local_port" "$probe"; then
    return 0
  fi
  if [[ -n $pid ]]; then
    echo "the port-forward to $2/$3 is gone or does not answer $probe: starting it again" >&2
    stop "$pid"
  fi
  port_forward "$@"
}

# ensure_mlflow: the MLflow port-forward, alive and answering /health.
ensure_mlflow() {
  ensure_port_forward MLFLOW_PF_PID mlflow service/mlflow "$MLFLOW_PORT" 5000 /health
}

stop() {
  local pid
  for pid in "$@"; do
    if [[ -n $pid ]]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}

# fetch_once URL: print the path of a local copy of URL, downloading it (retrying any
# error) only when DOWNLOAD_CACHE holds none yet. The CI job caches DOWNLOAD_CACHE
# under a key naming the URL, so a run downloads the 84 MB IMDB archive at most once.
fetch_once() {
  local url=$1 name digest target
  name=${url%%[?#]*}
  name=${name##*/}
  digest=$(printf '%s' "$url" | sha256sum | cut -c1-12)
  target=$DOWNLOAD_CACHE/$digest/${name:-download}
  if [[ ! -s $target ]]; then
    mkdir -p "${target%/*}"
    echo "downloading $url into ${target%/*}" >&2
    # --output (not a redirect): curl discards a failed attempt's bytes before retrying.
    curl --fail --location --silent --show-error --retry 5 --retry-all-errors \
      --retry-delay 5 --connect-timeout 30 --max-time 300 --output "$target.part" "$url"
    mv "$target.part" "$target"
  fi
  printf '%s\n' "$target"
}

# load_image IMAGE: side-load IMAGE into the kind node. Under Docker's containerd image
# store (the default of new Docker 29 installs) `kind load docker-image` can fail with
# "content digest ... not found" (kind issue #3795); a single-platform archive loads.
load_image() {
  local image=$1 platform
  kind load docker-image --name "$KIND_CLUSTER" "$image" && return 0
  echo "kind load docker-image failed; loading a single-platform archive of $image instead"
  platform=$(docker image inspect --format '{{.Os}}/{{.Architecture}}' "$image")
  docker image save --platform "$platform" --output "$WORK/image.tar" "$image"
  kind load image-archive --name "$KIND_CLUSTER" "$WORK/image.tar"
  rm -f "$WORK/image.tar"
}

# read_resource: RESOURCE, NAMESPACE, MODEL_NAME, SERVICE_PORT and SERVER_IMAGE from
# RESOURCE_FILE.
read_resource() {
  local fields
  fields=$("$PY" - "$RESOURCE_FILE" <<'EOF'
import sys

import yaml

with open(sys.argv[1], encoding="utf-8") as file:
    resource = yaml.safe_load(file)
spec = resource["spec"]
print(
    resource["metadata"]["name"],
    resource["metadata"].get("namespace", "default"),
    spec["model"]["name"],
    spec.get("service", {}).get("port", 80),
    spec["server"]["image"],
)
EOF
  )
  read -r RESOURCE NAMESPACE MODEL_NAME SERVICE_PORT SERVER_IMAGE <<<"$fields"
}

# read_pins: KEDA_VERSION, PROMETHEUS_OPERATOR_VERSION and the URLs of their CRDs, from
# cluster/versions.py (package local_cluster), the one place naming them for the local
# cluster's tests and this job.
read_pins() {
  local pins
  pins=$("$PY" -c 'from local_cluster import versions; print(versions.KEDA, versions.PROMETHEUS_OPERATOR)')
  read -r KEDA_VERSION PROMETHEUS_OPERATOR_VERSION <<<"$pins"
  [[ $KEDA_VERSION == v* && $PROMETHEUS_OPERATOR_VERSION == v* ]] ||
    fail "unexpected pins in cluster/versions.py: KEDA=$KEDA_VERSION PROMETHEUS_OPERATOR=$PROMETHEUS_OPERATOR_VERSION"
  SERVICE_MONITOR_CRD=https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/${PROMETHEUS_OPERATOR_VERSION}/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
  KEDA_CRDS=https://github.com/kedacore/keda/releases/download/${KEDA_VERSION}/keda-${KEDA_VERSION#v}-crds.yaml
}

# set_params KEY=VALUE...: set dotted keys of params.yaml (values parsed as YAML).
set_params() {
  "$PY" - "$@" <<'EOF'
import sys

import yaml

with open("params.yaml", encoding="utf-8") as file:
    params = yaml.safe_load(file)
for assignment in sys.argv[1:]:
    key, _, value = assignment.partition("=")
    section, name = key.split(".")
    params[section][name] = yaml.safe_load(value)
with open("params.yaml", "w", encoding="utf-8") as file:
    yaml.safe_dump(params, file, sort_keys=False)
EOF
}

# pipeline ARGS...: dvc repro ARGS against the port-forwarded MLflow (output also in
# pipeline.log, which lands in LOG_DIR on failure), for at most 10 minutes.
pipeline() {
  ensure_mlflow
  echo "\$ MLFLOW_TRACKING_URI=http://127.0.0.1:$MLFLOW_PORT dvc repro $*" | tee -a "$WORK/pipeline.log"
  timeout 600 env PATH="$VENV/bin:$PATH" MLFLOW_TRACKING_URI="http://127.0.0.1:$MLFLOW_PORT" \
    dvc repro "$@" 2>&1 | tee -a "$WORK/pipeline.log"
}

registered_version() {
  "$PY" -c 'import json; print(json.load(open("reports/registration.json"))["version"])'
}

promote() {
  ensure_mlflow
  env MLFLOW_TRACKING_URI="http://127.0.0.1:$MLFLOW_PORT" \
    "$PY" -m training.promote --model "$MODEL_NAME" --version "$1" --alias champion
}

# serving_pod VERSION: print "NAME PORT" of a ready, not terminating model-server pod of
# VERSION (PORT: its container port named http); fail when there is none.
serving_pod() {
  k -n "$NAMESPACE" get pods -l "$INSTANCE_LABEL=$RESOURCE,$VERSION_LABEL=$1" -o json |
    "$PY" -c '
import json
import sys

for pod in json.load(sys.stdin)["items"]:
    conditions = pod["status"].get("conditions", [])
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    if ready and not pod["metadata"].get("deletionTimestamp"):
        ports = [p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])
                 if p.get("name") == "http"]
        print(pod["metadata"]["name"], ports[0])
        break
else:
    sys.exit(1)
'
}

# service_routes_to POD: whether an EndpointSlice of the Service lists POD as ready.
service_routes_to() {
  k -n "$NAMESPACE" get endpointslices -l "kubernetes.io/service-name=$RESOURCE" -o json |
    "$PY" -c '
import json
import sys

ready = {
    endpoint.get("targetRef", {}).get("name")
    for endpoint_slice in json.load(sys.stdin)["items"]
    for endpoint in endpoint_slice.get("endpoints") or []
    if endpoint.get("conditions", {}).get("ready")
}
sys.exit(0 if sys.argv[1] in ready else 1)
' "$1"
}

# predict VERSION: POST a review to a pod of VERSION; the answer must be a valid
# prediction made by model VERSION, and /metrics must count it. A port-forward to the
# Service would not do: kubectl forwards to one pod it picks from the selector, which
# during a rollout can be a terminating pod of the previous version. So wait until no pod
# of another version is left, then forward to a named pod of VERSION that the Service
# routes to.
predict() {
  local version=$1 body metrics found pod pod_port
  k -n "$NAMESPACE" wait --for=delete pod --timeout=180s \
    -l "$INSTANCE_LABEL=$RESOURCE,$VERSION_LABEL!=$version"
  wait_for 120 "a ready pod of version $version" serving_pod "$version"
  found=$(serving_pod "$version")
  read -r pod pod_port <<<"$found"
  wait_for 60 "service/$RESOURCE to route to pod/$pod" service_routes_to "$pod"
  echo "pod/$pod serves version $version"
  port_forward MODEL_PF_PID "$NAMESPACE" "pod/$pod" "$MODEL_PORT" "$pod_port" /readyz
  echo "\$ curl -s -X POST http://127.0.0.1:$MODEL_PORT/predict -H 'Content-Type: application/json' -d '{\"text\": \"$REVIEW\"}'"
  body=$(curl -fsS --max-time 30 -X POST "http://127.0.0.1:$MODEL_PORT/predict" \
    -H 'Content-Type: application/json' -d "{\"text\": \"$REVIEW\"}")
  echo "$body"
  "$PY" - "$MODEL_NAME" "$version" "$body" <<'EOF' || fail "unexpected answer from /predict"
import json
import sys

name, version, body = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
assert body["model"] == {"name": name, "version": version}, body["model"]
(prediction,) = body["predictions"]
assert prediction["label"] in ("positive", "negative"), prediction
assert 0.0 <= prediction["probability_positive"] <= 1.0, prediction
EOF
  metrics=$(curl -fsS --max-time 10 "http://127.0.0.1:$MODEL_PORT/metrics")
  grep -E "^sentiment_predictions_total\{.*model_version=\"$version\"" <<<"$metrics" ||
    fail "/metrics counts no prediction of version $version"
  stop "$MODEL_PF_PID"
  MODEL_PF_PID=
}

status_field() {
  k -n "$NAMESPACE" get "sentimentmodel/$RESOURCE" -o "jsonpath={$1}"
}

condition() {
  status_field ".status.conditions[?(@.type==\"$1\")].status"
}

children_left() {
  k -n "$NAMESPACE" get "$CHILD_KINDS" -l "$INSTANCE_LABEL=$RESOURCE" -o name
}

children_gone() {
  local left
  left=$(children_left) || return 1
  [[ -z $left ]]
}

# collect_diagnostics: everything worth reading after a failure, into LOG_DIR. Never
# fails and needs nothing but kubectl (and kind): it also runs after an early failure,
# before the resource was read or the cluster exists.
collect_diagnostics() {
  set +e
  local log_dir=${LOG_DIR:-$ROOT/kind-logs}
  echo "Collecting diagnostics in $log_dir" >&2
  mkdir -p "$log_dir" || return 0
  rm -f "$log_dir/$COLLECTED_MARKER"
  [[ -n ${WORK:-} ]] && cp "$WORK"/*.log "$log_dir"/ 2>/dev/null
  # A failing cluster must not hang the diagnostics: every call gives up after 30 s.
  REQUEST_TIMEOUT=30s
  k get nodes -o wide >"$log_dir/nodes.txt" 2>&1
  k get all,sentimentmodels,servicemonitors,scaledobjects,triggerauthentications,configmaps \
    -A -o wide >"$log_dir/resources.txt" 2>&1
  k get sentimentmodels -A -o yaml >"$log_dir/sentimentmodels.yaml" 2>&1
  k get events -A --sort-by=.lastTimestamp >"$log_dir/events.txt" 2>&1
  local namespace pod seen=" "
  for namespace in "${NAMESPACE:-}" mlflow "${OPERATOR_NAMESPACE:-sentiment-operator}"; do
    [[ -n $namespace && $seen != *" $namespace "* ]] || continue
    seen+="$namespace "
    k -n "$namespace" describe sentimentmodels,deployments,replicasets,pods,services \
      >"$log_dir/describe-$namespace.txt" 2>&1
    for pod in $(k -n "$namespace" get pods -o name 2>/dev/null); do
      k -n "$namespace" logs "$pod" --all-containers --timestamps \
        >"$log_dir/logs-$namespace-${pod#pod/}.txt" 2>&1
      k -n "$namespace" logs "$pod" --all-containers --timestamps --previous \
        >"$log_dir/logs-$namespace-${pod#pod/}-previous.txt" 2>/dev/null ||
        rm -f "$log_dir/logs-$namespace-${pod#pod/}-previous.txt"
    done
  done
  kind export logs "$log_dir/kind" --name "${KIND_CLUSTER:-sentiment}" >/dev/null 2>&1
  touch "$log_dir/$COLLECTED_MARKER"
  return 0
}

# on_exit: the EXIT trap. Stops the port-forwards, gives back params.yaml and dvc.lock,
# and on failure collects diagnostics. Every variable it reads may still be unset or
# empty (a failure in the preflight), and nothing in it may fail under `set -u`.
on_exit() {
  local status=$?
  set +e
  trap - ERR
  stop "${MODEL_PF_PID:-}" "${MLFLOW_PF_PID:-}"
  if [[ -n ${WORK:-} && -d ${WORK:-} ]]; then
    # Give back the tracked pipeline files exactly as they were.
    [[ -f $WORK/params.yaml ]] && cp "$WORK/params.yaml" params.yaml
    if [[ -f $WORK/dvc.lock ]]; then
      cp "$WORK/dvc.lock" dvc.lock
    elif [[ -f $WORK/no-dvc.lock ]]; then
      rm -f dvc.lock
    fi
  fi
  if ((status == 130 || status == 143)); then
    # Interrupted (Ctrl-C, or CI cancelling the step): no time for diagnostics here.
    echo "kind e2e interrupted; scripts/kind-e2e.sh diagnostics collects the logs" >&2
  elif ((status != 0)); then
    collect_diagnostics
    echo "kind e2e FAILED (exit $status); diagnostics in ${LOG_DIR:-$ROOT/kind-logs}" >&2
  fi
  [[ -n ${WORK:-} ]] && rm -rf "$WORK"
  exit "$status"
}

install_traps() {
  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'echo "error: line $LINENO: $BASH_COMMAND" >&2' ERR
}

# diagnostics: the `diagnostics` command; a no-op when the run itself collected them.
diagnostics() {
  if [[ -f $LOG_DIR/$COLLECTED_MARKER ]]; then
    echo "diagnostics already in $LOG_DIR"
    return 0
  fi
  # The resource's namespace when it can be read; the other namespaces regardless.
  read_resource 2>/dev/null || NAMESPACE=
  # The logs of the run (pipeline, port-forwards) are in its WORK folder when it was
  # stopped before its exit trap could remove it: the newest one.
  local newest
  newest=$(find "${TMPDIR:-/tmp}" -maxdepth 1 -type d -name 'kind-e2e.*' -printf '%T@ %p\n' 2>/dev/null |
    sort -n | tail -n 1 | cut -d' ' -f2-) || newest=
  WORK=${newest:-}
  collect_diagnostics
}

main() {
  case ${1:-} in
  "") ;;
  diagnostics)
    diagnostics
    return 0
    ;;
  fetch)
    [[ $# -eq 2 ]] || fail "usage: $0 fetch URL"
    fetch_once "$2"
    return 0
    ;;
  *)
    echo "usage: $0 [diagnostics | fetch URL]" >&2
    return 2
    ;;
  esac
  install_traps
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/kind-e2e.XXXXXX")
  rm -f "$LOG_DIR/$COLLECTED_MARKER"

  step "Preflight"
  local tool
  for tool in docker kind kubectl curl; do
    command -v "$tool" >/dev/null || fail "$tool is not on PATH"
  done
  [[ -x $PY && -x $VENV/bin/dvc ]] || fail "no .venv with dvc: run make install first"
  kind version
  kubectl version --client
  docker version --format 'docker {{.Server.Version}}'
  read_pins
  echo "KEDA $KEDA_VERSION and Prometheus Operator $PROMETHEUS_OPERATOR_VERSION CRDs (cluster/versions.py)"
  DATA_SOURCE=${DATA_SOURCE:-}
  if [[ -z $DATA_SOURCE && -f ../shared/datasets/imdb/train.csv.gz ]]; then
    DATA_SOURCE=$ROOT/../shared/datasets/imdb/train.csv.gz
  elif [[ -z $DATA_SOURCE ]]; then
    DATA_SOURCE=$("$PY" -c 'import yaml; print(yaml.safe_load(open("params.yaml"))["ingest"]["source"])')
  elif [[ $DATA_SOURCE != *://* && $DATA_SOURCE != /* ]]; then
    DATA_SOURCE=$INVOKED_FROM/$DATA_SOURCE
  fi
  if [[ $DATA_SOURCE == http://* || $DATA_SOURCE == https://* ]]; then
    DATA_SOURCE=$(fetch_once "$DATA_SOURCE")
  fi
  # The source is a param DVC tracks: it goes into params.yaml.
  unset DAGSHUB_REPO
  echo "data source: $DATA_SOURCE, sample of $SAMPLE_ROWS reviews"
  read_resource
  echo "resource: $NAMESPACE/$RESOURCE serving $MODEL_NAME, Service port $SERVICE_PORT"

  step "1. kind cluster $KIND_CLUSTER"
  if kind get clusters 2>/dev/null | grep -x "$KIND_CLUSTER" >/dev/null; then
    echo "cluster $KIND_CLUSTER exists; using it"
  else
    kind create cluster --name "$KIND_CLUSTER" --config examples/kind-cluster.yaml --wait 180s
  fi
  k cluster-info
  k wait --for=condition=Ready nodes --all --timeout=180s

  step "2. Build the images under the names the manifests use, and load them into kind"
  # The `images:` entry of deploy/base/kustomization.yaml names the operator image.
  local operator_image image
  operator_image=$(k kustomize deploy/ | "$PY" -c '
import sys, yaml
(image,) = {c["image"] for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] == "Deployment"
            for c in d["spec"]["template"]["spec"]["containers"]}
print(image)')
  for image in "$SERVER_IMAGE" "$operator_image"; do
    [[ $image == *:* && $image != *:latest ]] ||
      fail "$image: a side-loaded image needs a fixed tag (with latest the kubelet always pulls)"
  done
  echo "model server: $SERVER_IMAGE"
  echo "operator:     $operator_image"
  docker build --file Dockerfile.server --tag "$SERVER_IMAGE" .
  docker build --file Dockerfile.operator --tag "$operator_image" .
  load_image "$SERVER_IMAGE"
  load_image "$operator_image"

  step "3. ServiceMonitor, ScaledObject and TriggerAuthentication CRDs"
  # Server-side apply: KEDA's CRDs exceed the client-side last-applied annotation limit.
  k apply --server-side -f "$SERVICE_MONITOR_CRD"
  k apply --server-side -f "$KEDA_CRDS"
  k wait --for=condition=Established --timeout=60s \
    crd/servicemonitors.monitoring.coreos.com crd/scaledobjects.keda.sh crd/triggerauthentications.keda.sh

  step "4. The operator (kubectl apply -k deploy/) and MLflow (examples/mlflow-server.yaml)"
  k apply -k deploy/
  k wait --for=condition=Established --timeout=60s crd/sentimentmodels.mlops.sentiment-operator.io
  k apply -f examples/mlflow-server.yaml
  k -n "$OPERATOR_NAMESPACE" rollout status deployment/sentiment-operator --timeout=180s
  k -n mlflow rollout status deployment/mlflow --timeout=300s

  step "5. Train and register v1 on $SAMPLE_ROWS reviews through a port-forward to MLflow"
  ensure_mlflow
  echo "MLflow at http://127.0.0.1:$MLFLOW_PORT"
  cp params.yaml "$WORK/params.yaml"
  if [[ -f dvc.lock ]]; then cp dvc.lock "$WORK/dvc.lock"; else touch "$WORK/no-dvc.lock"; fi
  # A small sample and 2^18 hashed features: a model of a few MB that trains in seconds.
  set_params "ingest.max_rows=$SAMPLE_ROWS" train.hash_bits=18 "ingest.source=$DATA_SOURCE"
  # --force: register against this MLflow even when an earlier run left matching outputs.
  pipeline --force
  V1=$(registered_version)
  promote "$V1"

  step "6. Apply $RESOURCE_FILE and wait for Ready"
  k apply -f "$RESOURCE_FILE"
  k -n "$NAMESPACE" wait --for=condition=Ready "sentimentmodel/$RESOURCE" --timeout=600s
  k -n "$NAMESPACE" get "sentimentmodel/$RESOURCE" -o wide
  [[ $(status_field .status.lastReadyVersion) == "$V1" ]] || fail "lastReadyVersion is not $V1"
  local pinned owner unavailable child
  pinned=$(k -n "$NAMESPACE" get "deployment/$RESOURCE" \
    -o 'jsonpath={.spec.template.spec.containers[0].env[?(@.name=="MODEL_URI")].value}') || pinned=
  [[ $pinned == "models:/$MODEL_NAME/$V1" ]] || fail "the Deployment pins $pinned, not v$V1"
  for unavailable in MonitoringUnavailable AutoscalingUnavailable; do
    [[ $(condition "$unavailable") != True ]] || fail "$unavailable is True although the CRDs are installed"
  done
  for child in "deployment/$RESOURCE" "service/$RESOURCE" "servicemonitor.monitoring.coreos.com/$RESOURCE" \
    "triggerauthentication.keda.sh/$RESOURCE" "scaledobject.keda.sh/$RESOURCE" "configmap/$RESOURCE-dashboard"; do
    owner=$(k -n "$NAMESPACE" get "$child" \
      -o 'jsonpath={.metadata.ownerReferences[?(@.kind=="SentimentModel")].name}') || owner=
    [[ $owner == "$RESOURCE" ]] || fail "$child is missing or not owned by sentimentmodel/$RESOURCE"
    echo "$child: owned by sentimentmodel/$RESOURCE"
  done

  step "7. curl /predict: version $V1 answers"
  predict "$V1"

  step "8. Train v2 (another train.classifier_c), promote it, wait for the rollout"
  set_params train.classifier_c=10.0
  # Only train, evaluate and register rerun; --no-run-cache: register must really run.
  pipeline --no-run-cache
  V2=$(registered_version)
  [[ $V2 != "$V1" ]] || fail "the pipeline registered no new version"
  promote "$V2"
  k -n "$NAMESPACE" wait --for=jsonpath='{.status.lastReadyVersion}'="$V2" \
    "sentimentmodel/$RESOURCE" --timeout=600s
  k -n "$NAMESPACE" rollout status "deployment/$RESOURCE" --timeout=300s
  k -n "$NAMESPACE" wait --for=condition=Ready "sentimentmodel/$RESOURCE" --timeout=120s
  k -n "$NAMESPACE" get "sentimentmodel/$RESOURCE" -o wide
  k -n "$NAMESPACE" get events --field-selector "involvedObject.name=$RESOURCE,involvedObject.kind=SentimentModel"

  step "9. curl /predict: version $V2 answers, once no pod of another version is left"
  predict "$V2"

  step "10. Delete the resource: garbage collection removes every child"
  k -n "$NAMESPACE" delete "sentimentmodel/$RESOURCE" --timeout=120s
  if ! wait_for 180 "garbage collection" children_gone; then
    children_left >&2 || true
    fail "children of $RESOURCE left behind"
  fi
  echo "no $CHILD_KINDS labelled $INSTANCE_LABEL=$RESOURCE left"

  step "kind e2e passed: v$V1 served, v$V2 rolled out by promotion alone, children collected"
}

# Sourced (by the unit tests), define the functions only.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
