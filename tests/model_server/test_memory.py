"""One malloc arena for every thread of the server (``model_server.memory.one_arena``)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

# Run in a fresh interpreter: the setting is process-wide and must precede any thread.
PROBE = """
import sys, threading
from model_server.memory import one_arena

def reserved():
    '''Large reserved (---p) anonymous mappings: glibc reserves one per new thread arena.'''
    count = 0
    for line in open("/proc/self/maps"):
        fields = line.split()
        low, high = (int(x, 16) for x in fields[0].split("-"))
        count += fields[1] == "---p" and len(fields) == 5 and high - low >= 32 << 20
    return count

environ = dict(arg.split("=", 1) for arg in sys.argv[2:])
print(one_arena(environ) if sys.argv[1] == "one" else "unset")
before, kept = reserved(), []
thread = threading.Thread(target=lambda: kept.extend(bytearray(1000) for _ in range(1000)))
thread.start()
thread.join()
print(reserved() - before)
"""


def _probe(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_threads_share_the_main_arena_unless_the_user_chose() -> None:
    assert _probe("default") == ["unset", "1"]  # glibc's default: a new arena for the thread
    assert _probe("one") == ["True", "0"]
    # MALLOC_ARENA_MAX in the environment is the user's choice: left alone.
    assert _probe("one", "MALLOC_ARENA_MAX=4") == ["False", "1"]
