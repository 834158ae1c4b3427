"""gunicorn settings of the model server, all derived from the environment.

Used by ``python -m model_server``; equally ``gunicorn -c python:model_server.gunicorn_conf``.
The root filesystem is read-only in the pod: everything written goes under the
temp dir (``/tmp``) or ``/dev/shm``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from model_server import date_header
from model_server.config import Settings
from model_server.contract import GRACEFUL_SHUTDOWN_SECONDS
from model_server.log_config import log_config
from model_server.multiproc import MULTIPROC_ENV, prepare_metrics_dir

_settings = Settings.from_env()
date_header.install()
# Before anything imports prometheus-client: it picks its storage when first imported.
_metrics_created = not os.environ.get(MULTIPROC_ENV)
_metrics_dir: Path = prepare_metrics_dir(os.environ)

wsgi_app = "model_server.app:create_app()"
# The model is loaded once, in the master, and shared with the workers it forks.
preload_app = True
_host = f"[{_settings.host}]" if ":" in _settings.host else _settings.host
bind = [f"{_host}:{_settings.port}"]
workers = _settings.workers
# gevent: a connection costs a greenlet, not a thread, so clients that trickle their
# requests cannot starve the others; each request head must arrive within `keepalive`.
worker_class = {
    "gevent": "model_server.gevent_worker.FairGeventWorker",
    "gthread": "model_server.gthread_worker.PipeliningThreadWorker",
}[_settings.worker_class]
worker_connections = _settings.worker_connections
# A listening socket per worker (SO_REUSEPORT): the kernel spreads new connections over
# the workers. With one shared socket, whichever worker wakes first accepts: a burst of
# connections to an idle server (a benchmark, a proxy filling its pool) all went to one
# worker and halved the throughput. The price: when a worker dies, connections still
# waiting in its own accept queue are reset.
reuse_port = _settings.reuse_port
threads = _settings.threads  # gthread only
# The heartbeat file is fchmod-ed every second: keep it in memory, not on a disk.
worker_tmp_dir = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()  # noqa: S108
timeout = 60
graceful_timeout = GRACEFUL_SHUTDOWN_SECONDS  # within the pod's termination grace period
# The gevent worker allows this long for each request head (the first one included), and
# closes the connection past it; gthread uses it only as the idle keep-alive time.
keepalive = _settings.header_timeout_seconds
control_socket_disable = True  # it would live in $HOME, and several servers would share it
accesslog = None  # requests are counted and timed in /metrics instead


class AccessLogOnlyWhenEnabled(Logger):  # type: ignore[misc]
    """gunicorn's logger, which builds every request's access-log line (about a tenth of
    a single prediction's CPU) whenever a logging config is given, even though the
    ``gunicorn.access`` logger below drops it: skip it unless that logger would emit it."""

    @property
    def access_log_enabled(self) -> bool:
        return bool(self.access_log.isEnabledFor(logging.INFO))


logger_class = AccessLogOnlyWhenEnabled
errorlog = "-"
loglevel = _settings.log_level
logconfig_dict = log_config(_settings.log_level)


#: Signals that stop a worker (gunicorn: TERM graceful, INT and QUIT at once).
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}


def _block_stop_signals() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def _unblock_stop_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def on_starting(server: Any) -> None:
    """Before any worker exists: say where the metrics go; fork workers with the stop
    signals blocked.

    Until a worker has installed its own handlers (the gevent worker patches and
    re-initialises its hub first: a tenth of a second or more), the master's handlers,
    inherited through fork, would take a stop signal and drop it: a server stopped just
    after it started kept such a worker serving until the master killed it at the
    graceful timeout. Blocked, the signal waits in the kernel until ``post_worker_init``.
    """
    server.log.info("prometheus multiprocess dir: %s", _metrics_dir)
    if reuse_port:  # gunicorn's own "Listening at" names no address: the master binds none
        server.log.info("listening at %s with a socket per worker", ", ".join(bind))
    os.register_at_fork(before=_block_stop_signals, after_in_parent=_unblock_stop_signals)


def post_worker_init(_worker: Any) -> None:
    """In a new worker, its handlers installed: a stop signal that came while it booted acts."""
    _unblock_stop_signals()


def child_exit(_server: Any, worker: Any) -> None:
    """Drop the dead worker's live gauges; its counters stay in the totals."""
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(_server: Any) -> None:
    """Remove the metrics dir if this server made it up."""
    if _metrics_created:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
