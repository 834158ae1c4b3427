"""Run as a script: a worker's per-process objects made before gevent's monkey-patching
(as the gunicorn master makes them, before it forks a gevent worker that patches), then
first used by several greenlets at once, as a fresh worker's first burst of requests does.

Prints ``answered <name>`` for each object whose greenlets all got through, and exits 0.
The bug it guards against never returns: a greenlet blocked on a real OS lock blocks the
process's only thread, so the caller must run it with a timeout.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Sequence
from types import SimpleNamespace

from model_server.deadlines import BodyDeadlines
from model_server.state import ModelSlot

GREENLETS = 4


def _score(texts: Sequence[str]) -> list[str]:
    return ["positive" for _ in texts]


def main() -> int:
    # Made first: their locks are real OS locks, as in the gunicorn master.
    deadlines = BodyDeadlines(30)
    generic = SimpleNamespace(scorer=None, predict=_score)  # the micro-batched path
    slot = ModelSlot(generic, max_batch_texts=8)  # type: ignore[arg-type]

    from gevent import monkey

    monkey.patch_all()  # what gunicorn's gevent worker does first thing after the fork
    import gevent

    pairs = [socket.socketpair() for _ in range(GREENLETS)]

    def guarded(index: int) -> None:
        with deadlines.guard({"gunicorn.socket": pairs[index][0]}):
            pass

    def scored(_index: int) -> None:
        assert len(slot.serving.batcher.predict(["fine"])) == 1

    uses: dict[str, Callable[[int], None]] = {"deadlines": guarded, "model slot": scored}
    for name, use in uses.items():
        greenlets = [gevent.spawn(use, index) for index in range(GREENLETS)]
        gevent.joinall(greenlets, timeout=10, raise_error=True)
        if all(greenlet.successful() for greenlet in greenlets):
            print("answered", name, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
