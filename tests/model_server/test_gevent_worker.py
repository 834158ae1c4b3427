"""The gevent worker's gathered sends, on real socket pairs, and the per-worker objects a
fresh gevent worker's first greenlets share; the whole worker is exercised by every server
test (it is the default worker class)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from model_server.deadlines import BodyDeadlines
from model_server.gevent_worker import GATHER_LIMIT, GatheredSends
from tests.conftest import REPO_ROOT


class Recording:
    """A real connected socket that remembers each ``sendall`` it was given."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sends: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sends.append(data)
        self.sock.sendall(data)

    def shutdown(self, how: int) -> None:
        self.sends.append(b"<shutdown>")
        self.sock.shutdown(how)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    right.settimeout(5)
    yield left, right
    left.close()
    right.close()


def _received(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_a_head_and_body_go_out_in_one_write(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    recording = Recording(left)
    gathered = GatheredSends(recording)
    gathered.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    gathered.sendall(memoryview(b"{}"))
    assert recording.sends == []
    gathered.flush()
    head_and_body = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    assert recording.sends == [head_and_body]
    assert _received(right, len(head_and_body)) == head_and_body
    gathered.flush()  # nothing more to send
    assert len(recording.sends) == 1


def test_anything_else_on_the_connection_comes_after_what_was_gathered(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    recording = Recording(left)
    gathered = GatheredSends(recording)
    gathered.sendall(b"partial answer")
    gathered.shutdown(socket.SHUT_WR)
    assert recording.sends == [b"partial answer", b"<shutdown>"]
    assert _received(right, 100) == b"partial answer"


def test_a_large_answer_is_sent_in_parts(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    recording = Recording(left)
    gathered = GatheredSends(recording)
    part = b"x" * (GATHER_LIMIT // 2 + 1)
    with ThreadPoolExecutor(1) as reader:
        arrived = reader.submit(_received, right, 2 * len(part))
        gathered.sendall(part)
        assert recording.sends == []
        gathered.sendall(part)  # over the limit: out now
        assert recording.sends == [part + part]
        gathered.flush()
        assert len(recording.sends) == 1
        assert arrived.result(timeout=5) == part + part


def test_body_deadlines_cut_the_real_connection_under_the_wrapper(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, _right = pair
    deadlines = BodyDeadlines(0.3)
    with deadlines.guard({"gunicorn.socket": GatheredSends(left)}) as expired:
        started = time.monotonic()
        left.settimeout(5)
        assert left.recv(10) == b""  # the peer sends nothing: the deadline shuts reading
        assert expired()
    assert 0.3 <= time.monotonic() - started < 4
    with deadlines.guard({"gunicorn.socket": object()}) as expired:  # not a socket: unguarded
        assert not expired()


def test_objects_made_before_the_patch_serve_a_fresh_workers_first_greenlets() -> None:
    # The master makes the body deadlines and the model slot, with real OS locks, before
    # it forks; each gevent worker then monkey-patches and starts their threads (greenlets)
    # on its first requests. Several greenlets arriving at once must all get through: one
    # blocked on such a lock blocks the worker's only thread, for good.
    command = [sys.executable, "-m", "tests.model_server.patched_later"]
    try:
        done = subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"greenlets blocked for good: {hung.stdout!r}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["answered deadlines", "answered model slot"]


def test_the_master_imports_what_each_worker_patches_in_without_patching_anything() -> None:
    """Loading the worker class (the master does) imports the modules ``patch_all`` would
    import in every worker, so the workers share them, and patches nothing: the master
    keeps the standard library's own sockets and threads."""
    script = (
        "import sys, socket, threading\n"
        "before = {'gevent.ssl', 'gevent.threading', 'gevent.subprocess'} & set(sys.modules)\n"
        "import model_server.gevent_worker\n"
        "from gevent import monkey\n"
        "print(sorted(before), 'gevent.ssl' in sys.modules, 'gevent.threading' in sys.modules,"
        " monkey.is_anything_patched(), socket.socket.__module__, threading.Lock.__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert done.stdout.split() == ["[]", "True", "True", "False", "socket", "_thread"]
