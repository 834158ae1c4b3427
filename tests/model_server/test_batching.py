"""The micro-batcher merges waiting requests into one model call and splits the answers back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from model_server.batching import MicroBatcher


class GatedModel:
    """Upper-cases texts; its first call waits at a gate so that other requests queue up."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, texts: list[str]) -> list[str]:
        self.calls.append(list(texts))
        self.entered.set()
        self.gate.wait(timeout=30)
        if "boom" in texts:
            raise ValueError("model failure")
        return [text.upper() for text in texts]


def test_requests_waiting_meanwhile_share_one_call_and_get_their_own_results() -> None:
    model = GatedModel()
    batcher = MicroBatcher(model, max_texts=100)
    with ThreadPoolExecutor(max_workers=6) as pool:
        first = pool.submit(batcher.predict, ["a"])
        assert model.entered.wait(timeout=30)
        rest = [pool.submit(batcher.predict, [f"b{i}", f"c{i}"]) for i in range(5)]
        _wait_until_queued(batcher, 5)
        model.gate.set()
        assert first.result(timeout=30) == ["A"]
        assert [f.result(timeout=30) for f in rest] == [[f"B{i}", f"C{i}"] for i in range(5)]
    assert len(model.calls) == 2
    assert sorted(model.calls[1]) == sorted(t for i in range(5) for t in (f"b{i}", f"c{i}"))


def test_a_merged_call_never_exceeds_max_texts() -> None:
    model = GatedModel()
    batcher = MicroBatcher(model, max_texts=4)
    with ThreadPoolExecutor(max_workers=6) as pool:
        first = pool.submit(batcher.predict, ["a"])
        assert model.entered.wait(timeout=30)
        rest = [pool.submit(batcher.predict, ["x", "y", "z"]) for _ in range(3)]
        _wait_until_queued(batcher, 3)
        model.gate.set()
        first.result(timeout=30)
        assert all(f.result(timeout=30) == ["X", "Y", "Z"] for f in rest)
    assert [len(call) for call in model.calls] == [1, 3, 3, 3]


def test_a_failing_call_fails_only_its_own_requests_and_the_batcher_goes_on() -> None:
    model = GatedModel()
    model.gate.set()
    batcher = MicroBatcher(model, max_texts=10)
    with pytest.raises(ValueError, match="model failure"):
        batcher.predict(["boom"])
    assert batcher.predict(["fine"]) == ["FINE"]


def _wait_until_queued(batcher: MicroBatcher[str], count: int) -> None:
    import time

    deadline = time.monotonic() + 30
    while batcher._jobs.qsize() < count:  # the queue is the batcher's only observable state
        assert time.monotonic() < deadline, "requests did not queue"
        time.sleep(0.01)
