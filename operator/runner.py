"""Start the operator: kopf, configured for this operator, with its handlers and runtime.

kopf runs standalone (one replica, no peering objects to manage), keeps its handler
progress and last-handled spec in annotations under the operator's API group (the
status belongs to the operator's own fields and the CRD schema prunes anything
else), and its finalizer is named after that group too. The finalizer exists because
every resource has a polling daemon that must stop before the resource goes; the
children need none: their owner references let the garbage collector delete them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import kopf
from pydantic import ValidationError
from sentiment_operator import handlers, mlflow_rest
from sentiment_operator.discovery import Discovery
from sentiment_operator.kube import KubeApi
from sentiment_operator.reconcile import Reconciler
from sentiment_operator.registry import VersionCache
from sentiment_operator.runtime import Runtime
from sentiment_operator.settings import OperatorSettings
from sentiment_operator.spec import GROUP

logger = logging.getLogger(__name__)


def kopf_settings(settings: OperatorSettings) -> kopf.OperatorSettings:
    """kopf's settings for this operator."""
    config = kopf.OperatorSettings()
    config.persistence.finalizer = f"{GROUP}/poller"
    config.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    config.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    config.posting.reporting_component = settings.field_manager
    # A handler that raises is retried after this delay (kopf's backoff for every handler).
    config.execution.default_backoff = settings.retry_seconds
    # The reconciler posts its own Events with precise reasons; kopf's copies of its log
    # lines ("Handler ... failed temporarily") would only repeat them.
    config.posting.level = logging.CRITICAL + 1
    # Watches are re-established every few minutes, so a silently broken connection
    # (a proxy or load balancer dropping it) costs minutes, not forever.
    config.watching.server_timeout = 300
    config.watching.client_timeout = 330
    config.watching.connect_timeout = 10
    config.networking.connect_timeout = 10
    config.networking.request_timeout = 60
    return config


def configure_logging(level: str) -> None:
    """Plain timestamped logs; the HTTP libraries stay quiet (their debug logs carry headers)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("urllib3", "httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def operate(
    namespaces: Sequence[str] = (),
    *,
    clusterwide: bool = False,
    liveness_endpoint: str | None = None,
    stop_flag: asyncio.Event | None = None,
    settings: OperatorSettings | None = None,
) -> None:
    """Run the operator in the current event loop until it is stopped."""
    settings = settings or OperatorSettings()
    mlflow_rest.configure(timeout_seconds=settings.registry_timeout_seconds)
    api = KubeApi(field_manager=settings.field_manager)
    with ThreadPoolExecutor(settings.workers, thread_name_prefix="reconcile") as executor:
        runtime = Runtime(
            reconciler=Reconciler(
                api,
                VersionCache(),
                settings,
                discovery=Discovery(api, ttl_seconds=settings.discovery_seconds),
            ),
            executor=executor,
            retry_seconds=settings.retry_seconds,
            poll_backoff_max_seconds=settings.poll_backoff_max_seconds,
        )
        await kopf.operator(
            registry=handlers.registry,
            settings=kopf_settings(settings),
            standalone=True,
            clusterwide=clusterwide,
            namespaces=list(namespaces),
            liveness_endpoint=liveness_endpoint,
            stop_flag=stop_flag,
            memo=kopf.Memo(runtime=runtime),
        )


def run(
    namespaces: Sequence[str] = (),
    *,
    clusterwide: bool = False,
    liveness_endpoint: str | None = None,
) -> None:
    """Run the operator until SIGINT or SIGTERM: the ``sentiment-operator run`` command."""
    if clusterwide == bool(namespaces):
        raise ValueError("watch either some namespaces or all of them (clusterwide)")
    try:
        settings = OperatorSettings()
    except ValidationError as error:
        problems = "; ".join(
            f"SENTIMENT_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
        )
        raise SystemExit(f"sentiment-operator: invalid settings: {problems}") from None
    configure_logging(settings.log_level)
    asyncio.run(
        operate(
            namespaces,
            clusterwide=clusterwide,
            liveness_endpoint=liveness_endpoint,
            settings=settings,
        )
    )
