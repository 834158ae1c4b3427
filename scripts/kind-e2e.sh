#!/usr/bin/env bash
# The end-to-end test on a kind cluster: the CI job `kind` runs this, and so can you
# (after `make install`, with Docker, kind, kubectl, Go and Prometheus on PATH, and sudo
# for two routes):
#
#   scripts/kind-e2e.sh               the run below
#   scripts/kind-e2e.sh diagnostics   only collect the diagnostics into LOG_DIR (what CI
#                                     runs after a failure, a timeout or a cancel)
#
# It runs the test `make e2e` runs on the local cluster (tests/e2e, `pytest -m e2e`), so
# what CI proves on kind is what runs here:
#
#  1. create the kind cluster from examples/kind-cluster.yaml (unless it exists)
#  2. build both images under the names deploy/ gives them (the operator's, and the
#     model server's that the operator puts into the Deployments it makes), `kind load`
#  3. route the cluster's Service and pod networks to the kind node, so this host
#     reaches ClusterIPs and pods the way the local cluster's test process does; pods
#     reach this host at the gateway of kind's Docker network
#  4. E2E_KUBECONFIG=<kind's> E2E_HOST_ADDRESS=<gateway> pytest -m e2e: the test installs
#     the KEDA and Prometheus Operator CRDs (from their Go modules, at the pins of
#     cluster/versions.py) and the operator (kubectl apply -k deploy/), trains and
#     registers v1 with `dvc repro` in a real MLflow server, promotes it, applies a
#     SentimentModel, predicts through the Service's ClusterIP, promotes v2 while a
#     client polls the Service (no request may fail), checks Prometheus scrapes the pod
#     and the trigger query answers, and deletes the resource (garbage collection).
#
# On failure, the test's output, `kubectl describe`, pod logs, events and `kind export
# logs` land in ./kind-logs/ (the CI job uploads it). Interrupted (Ctrl-C, SIGTERM) it
# only cleans up: run `scripts/kind-e2e.sh diagnostics` for the logs. The cluster is
# left running (`kind delete cluster --name sentiment`); the routes are removed.
#
# Environment (all optional):
#   KIND_CLUSTER   cluster name (default: sentiment)
#   LOG_DIR        where diagnostics go on failure (default: ./kind-logs)
set -Eeuo pipefail

# BASH_SOURCE, not $0: the unit tests source this file to run its exit path.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

KIND_CLUSTER=${KIND_CLUSTER:-sentiment}
LOG_DIR=${LOG_DIR:-$ROOT/kind-logs}
PY=$ROOT/.venv/bin/python
CLUSTER_CONFIG=examples/kind-cluster.yaml
OPERATOR_NAMESPACE=sentiment-operator
# The namespace tests/e2e/test_loop.py serves its SentimentModel in.
TEST_NAMESPACE=reviews

# Set once the run gets that far; the exit path must work with any of them still empty.
WORK=
ROUTES=()
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
as_root() { if ((EUID == 0)); then "$@"; else sudo "$@"; fi; }

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

# images: print the operator's image and the model server's, as `kubectl kustomize
# deploy/` names them (the server's in the operator's SENTIMENT_DEFAULT_SERVER_IMAGE).
images() {
  kubectl kustomize deploy/ | "$PY" -c '
import sys
import yaml

(container,) = [c for d in yaml.safe_load_all(sys.stdin) if d and d["kind"] == "Deployment"
                for c in d["spec"]["template"]["spec"]["containers"]]
env = {e["name"]: e.get("value") for e in container.get("env", [])}
print(container["image"], env["SENTIMENT_DEFAULT_SERVER_IMAGE"])'
}

# subnets: print the Service and pod subnets that CLUSTER_CONFIG gives the cluster.
subnets() {
  "$PY" -c '
import sys
import yaml

networking = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))["networking"]
print(networking["serviceSubnet"], networking["podSubnet"])' "$CLUSTER_CONFIG"
}

# node_address: the kind node's IPv4 address on kind's Docker network.
node_address() {
  docker inspect --format '{{with index .NetworkSettings.Networks "kind"}}{{.IPAddress}}{{end}}' \
    "$KIND_CLUSTER-control-plane"
}

# host_address: this host's IPv4 address on kind's Docker network (its gateway), where
# pods reach the servers the test starts (MLflow, Prometheus).
host_address() {
  docker network inspect kind --format '{{range .IPAM.Config}}{{.Gateway}} {{end}}' |
    tr ' ' '\n' | grep -E '^[0-9]+(\.[0-9]+){3}$' | head -n 1
}

# route SUBNET VIA: route SUBNET through VIA, remembered for the exit path.
route() {
  as_root ip route replace "$1" via "$2"
  ROUTES+=("$1")
}

# collect_diagnostics: everything worth reading after a failure, into LOG_DIR. Never
# fails and needs nothing but kubectl (and kind): it also runs after an early failure,
# before the cluster exists.
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
  local namespace pod
  for namespace in "${TEST_NAMESPACE:-reviews}" "${OPERATOR_NAMESPACE:-sentiment-operator}"; do
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

# on_exit: the EXIT trap. Removes the routes, and on failure collects diagnostics.
# Every variable it reads may still be unset or empty (a failure in the preflight), and
# nothing in it may fail under `set -u`.
on_exit() {
  local status=$? subnet
  set +e
  trap - ERR
  for subnet in ${ROUTES[@]+"${ROUTES[@]}"}; do
    as_root ip route del "$subnet" 2>/dev/null
  done
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
  # The test's log is in the run's WORK folder when it was stopped before its exit trap
  # could remove it: the newest one.
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
  *)
    echo "usage: $0 [diagnostics]" >&2
    return 2
    ;;
  esac
  install_traps
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/kind-e2e.XXXXXX")
  rm -f "$LOG_DIR/$COLLECTED_MARKER"

  step "Preflight"
  local tool
  for tool in docker kind kubectl go prometheus ip; do
    command -v "$tool" >/dev/null || fail "$tool is not on PATH"
  done
  [[ -x $PY ]] || fail "no .venv: run make install first"
  kind version
  kubectl version --client
  docker version --format 'docker {{.Server.Version}}'

  step "1. kind cluster $KIND_CLUSTER"
  if kind get clusters 2>/dev/null | grep -x "$KIND_CLUSTER" >/dev/null; then
    echo "cluster $KIND_CLUSTER exists; using it"
  else
    kind create cluster --name "$KIND_CLUSTER" --config "$CLUSTER_CONFIG" --wait 180s
  fi
  kind get kubeconfig --name "$KIND_CLUSTER" >"$WORK/kubeconfig"
  k cluster-info
  k wait --for=condition=Ready nodes --all --timeout=180s

  step "2. Build the images under the names deploy/ gives them, and load them into kind"
  local found operator_image server_image image
  found=$(images)
  read -r operator_image server_image <<<"$found"
  for image in "$operator_image" "$server_image"; do
    [[ $image == *:* && $image != *:latest ]] ||
      fail "$image: a side-loaded image needs a fixed tag (with latest the kubelet always pulls)"
  done
  echo "operator:     $operator_image"
  echo "model server: $server_image"
  docker build --file Dockerfile.operator --tag "$operator_image" .
  docker build --file Dockerfile.server --tag "$server_image" .
  load_image "$operator_image"
  load_image "$server_image"

  step "3. Route the Service and pod networks to the node; pods reach this host at the gateway"
  local node host service_subnet pod_subnet
  node=$(node_address)
  host=$(host_address)
  [[ -n $node && -n $host ]] || fail "no address of the node ($node) or of this host ($host) on kind's network"
  found=$(subnets)
  read -r service_subnet pod_subnet <<<"$found"
  route "$service_subnet" "$node"
  route "$pod_subnet" "$node"
  echo "$service_subnet and $pod_subnet via $node; this host is $host for the pods"

  step "4. The end-to-end test (pytest -m e2e, as make e2e runs it) on kind"
  E2E_KUBECONFIG=$WORK/kubeconfig E2E_HOST_ADDRESS=$host \
    "$PY" -m pytest -m e2e 2>&1 | tee "$WORK/pytest.log"

  step "kind e2e passed"
}

# Sourced (by the unit tests), define the functions only.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
