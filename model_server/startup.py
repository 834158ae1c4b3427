"""Load the model once, before any worker exists, within the registry deadline.

The gunicorn master calls ``load_or_exit`` before it forks: every worker, and any
worker that replaces a crashed one, starts with the model already in memory
(copy-on-write pages shared with the master), so a worker is serving from its
first request and readiness means every worker serves.

The master downloads the model; a process of its own loads the Pipeline and compiles
it (``compiler_process``), so that when the compiled scorer serves, scikit-learn is
never imported here. The scorer it hands back is proven here, against the pipeline's
own probabilities, before it serves; any other model is loaded here, as it is.

Failure policy: a model that cannot be loaded (bad URI, registry unreachable,
missing version, wrong flavor, no ``predict_proba``) logs one line,
``model load failed: <uri>: <reason>``, and the process exits with status 4
before it listens. Kubernetes then restarts the container with exponential
back-off (CrashLoopBackOff) and the rollout's progress deadline lets the operator
roll back; a server is never half-ready.
"""

from __future__ import annotations

import gc
import logging
import os
import tempfile
import threading
import time
from typing import NoReturn

from model_server.compiled import TOLERANCE, difference
from model_server.compiler_process import (
    CompilerProcess,
    InProcess,
    Request,
    Unservable,
)
from model_server.config import Settings
from model_server.invocations import warm_up as warm_up_invocations
from model_server.loading import (
    Fetched,
    LoadedModel,
    ModelLoadError,
    fetch,
    import_registry_client,
    load_model,
    one_line,
    warmed_up,
)
from model_server.memory import trim

APP_LOAD_ERROR = 4  # gunicorn's exit status for "App failed to load"
# MLflow retries seven times with back-off (about four minutes) by default; a few are enough.
MLFLOW_RETRIES = "2"

log = logging.getLogger(__name__)


def load_or_exit(settings: Settings, compiler: CompilerProcess | None = None) -> LoadedModel:
    """The loaded, proven and warmed-up model; or one log line and exit status 4.

    ``compiler``: the compiler process, if it was started already.
    """
    deadline = settings.registry_timeout_seconds
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(deadline))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", MLFLOW_RETRIES)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    log.info(
        "loading model %s from tracking server %s", settings.model_uri, settings.safe_tracking_uri
    )
    started = time.monotonic()
    try:
        # The compiler imports scikit-learn on the other core while this process asks the
        # registry and downloads.
        with (
            compiler or CompilerProcess.start(settings.log_level) as process,
            tempfile.TemporaryDirectory(
                prefix="sentiment-model-", ignore_cleanup_errors=True
            ) as scratch,
        ):
            fetched = _fetch(settings, scratch, deadline)
            model = _load(fetched, process, max(1.0, deadline - (time.monotonic() - started)))
    except Exception as error:  # each kind is reported the same way: one line, status 4
        _fail(settings, str(error) if isinstance(error, ModelLoadError) else one_line(error))
    identity = model.identity
    log.info(
        "model ready: %s version %s (run %s) from %s, %s path",
        identity.name, identity.version, identity.run_id or "-", identity.source_uri,
        "compiled" if model.scorer is not None else "generic",
    )  # fmt: skip
    warm_up_invocations(model.text_column, model.input_schema)
    # Objects that live as long as the process: keep the collector from touching (and so
    # copying) their pages in every worker. What loading freed goes back to the OS first,
    # so the workers do not inherit it. The collector is on from here (``main`` starts
    # with it off). No collection first: over everything imported it took 0.2-0.3 s of
    # the start and found ~1,400 unreachable objects (cycles of a few KiB in all).
    trim()
    gc.freeze()
    gc.enable()
    return model


def _fetch(settings: Settings, into: str, deadline: float) -> Fetched:
    """The model downloaded into ``into``; ``ModelLoadError`` past ``deadline`` seconds."""
    outcome: list[Fetched | BaseException] = []

    def run() -> None:
        try:
            outcome.append(fetch(settings, into))
        except BaseException as error:  # reported by the waiting thread
            outcome.append(error)

    started = time.monotonic()
    import_registry_client()
    fetcher = threading.Thread(target=run, name="model-fetcher", daemon=True)
    fetcher.start()
    fetcher.join(max(0.0, deadline - (time.monotonic() - started)))
    if not outcome:
        raise ModelLoadError(
            f"the registry {settings.safe_tracking_uri} gave no model within {deadline} s "
            "(no connection, or no answer; REGISTRY_TIMEOUT_SECONDS)"
        )
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result if isinstance(result, ModelLoadError) else ModelLoadError(one_line(result))
    return result


def _load(fetched: Fetched, compiler: CompilerProcess, timeout: float) -> LoadedModel:
    """The model served by the compiler's scorer once it is proven here, else by the
    Pipeline loaded in this process."""
    texts = fetched.proof_texts()
    request = Request(fetched.local_path, fetched.text_column, tuple(texts))
    outcome = compiler.compile(request, timeout)
    if isinstance(outcome, Unservable):
        raise ModelLoadError(outcome.reason)
    if isinstance(outcome, InProcess):
        reason = outcome.reason
    else:
        scorer, gap = outcome.scorer, difference(outcome.scorer, texts, outcome.expected)
        if scorer.portable and gap <= TOLERANCE:
            log.info(
                "scoring through the compiled linear path (largest difference %.2g on %d "
                "reviews); scikit-learn stays out of this process", gap, len(texts),
            )  # fmt: skip
            return warmed_up(fetched.loaded(None, scorer))
        reason = f"the compiled scorer differs by {gap:.3g} here (over {TOLERANCE:g})"
    log.info("loading the Pipeline in this process: %s", reason)
    return load_model(fetched)


def _fail(settings: Settings, reason: str) -> NoReturn:
    log.critical("model load failed: %s: %s", settings.model_uri, reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(APP_LOAD_ERROR)
