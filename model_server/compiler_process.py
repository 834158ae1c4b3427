"""Load and compile the Pipeline in a process of its own, so the server never imports
scikit-learn when a compiled scorer serves.

scikit-learn, the parts of SciPy it loads, and skops take about 90 MB of a process (67 MB
of heap, 26 MB of mapped libraries) that a compiled scorer never uses, and whatever the
gunicorn master holds, every worker forked from it holds too. So the master starts this
process first (it imports those libraries while the master asks the registry and
downloads), hands it the downloaded model, and gets back one ``Outcome``:

- ``Compiled``: the scorer (numpy arrays, bytes and this package's classes, pickled)
  and the pipeline's own probabilities of the proof texts, which the master checks the
  scorer against before it serves;
- ``InProcess``: why the master must load the Pipeline itself (a model outside the
  compiled family, or a scorer that runs scikit-learn's code);
- ``Unservable``: why the model cannot be served at all.

The process then exits. Its answer is pickled: it comes from this package's own code,
in a child of the process that reads it.
"""

from __future__ import annotations

import gc
import logging.config
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

# Only the standard library here: the master starts this process first thing, before it
# imports anything else; what the child needs is imported in ``main``.
if TYPE_CHECKING:
    from model_server.compiled import Floats, LinearTextScorer


@dataclass(frozen=True)
class Request:
    """A downloaded model to compile, and the texts to prove its scorer on."""

    local_path: str
    text_column: str
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Compiled:
    """A portable scorer and the pipeline's positive probabilities of the request's texts."""

    scorer: LinearTextScorer
    expected: Floats


@dataclass(frozen=True)
class InProcess:
    """The Pipeline has to be loaded where it serves; ``reason`` says why."""

    reason: str


@dataclass(frozen=True)
class Unservable:
    """The model cannot be served; ``reason`` says why in one line."""

    reason: str


Outcome = Compiled | InProcess | Unservable


class CompilerError(RuntimeError):
    """The compiler process gave no answer; the message says what happened."""


class CompilerProcess:
    """The master's handle on the compiler process: started at once, asked once."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process

    @classmethod
    def start(cls, log_level: str) -> CompilerProcess:
        command = [sys.executable, "-m", __name__, log_level]
        return cls(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE))

    def compile(self, request: Request, timeout: float) -> Outcome:
        """The process's answer to ``request``; ``CompilerError`` if none comes in ``timeout`` s."""
        try:
            answer, _ = self._process.communicate(pickle.dumps(request), timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise CompilerError(f"the model was not loaded within {timeout:.3g} s") from None
        status = self._process.returncode
        if status != 0 or not answer:
            raise CompilerError(f"the model loader process exited with status {status}")
        try:
            outcome = pickle.loads(answer)  # noqa: S301 (our own child's answer)
        except Exception as error:  # a truncated or foreign answer: any unpickling error
            reason = " ".join(str(error).split()) or type(error).__name__
            raise CompilerError(
                f"the model loader process answered something unreadable: {reason}"
            ) from None
        if not isinstance(outcome, Compiled | InProcess | Unservable):
            raise CompilerError(f"the model loader process answered a {type(outcome).__name__}")
        return outcome

    def stop(self) -> None:
        """End the process if it still runs (the master gave up, or is done with it)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.communicate()

    def __enter__(self) -> CompilerProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None
    ) -> None:
        self.stop()


def compile_model(request: Request) -> Outcome:
    """Load the Pipeline, compile it and score the proof texts with it."""
    import numpy as np

    from model_server.compiled import NotCompilableError, compile_pipeline, pipeline_positive_proba
    from model_server.loading import ModelLoadError, one_line, read_pipeline

    try:
        pipeline = read_pipeline(request.local_path)
    except ModelLoadError as error:
        return Unservable(str(error))
    except Exception as error:  # MLflow, skops and scikit-learn raise many kinds
        return Unservable(one_line(error))
    try:
        scorer = compile_pipeline(pipeline, request.text_column)
    except NotCompilableError as error:
        return InProcess(f"it has no compiled scorer: {error}")
    except Exception as error:  # a model that breaks the compiler is served as it is
        return InProcess(f"it has no compiled scorer: {one_line(error)}")
    if not scorer.portable:
        return InProcess(
            "its compiled scorer runs scikit-learn's code (character n-grams, stop words, "
            "a tokenizer, preprocessor or accent function of its own, or a vocabulary whose "
            "token pattern the C counter does not reproduce)"
        )
    try:
        expected = pipeline_positive_proba(pipeline, request.text_column, request.texts)
    except Exception as error:  # the master's own load will report it, or serve generically
        return InProcess(f"the pipeline cannot score the proof texts: {one_line(error)}")
    return Compiled(scorer, np.ascontiguousarray(expected))


def main(argv: list[str]) -> int:
    """Import the libraries, then answer the one request read from standard input."""
    from model_server.loading import import_model_libraries, import_registry_client
    from model_server.log_config import log_config
    from model_server.memory import one_arena

    gc.disable()  # a short life that only allocates what it hands over
    one_arena(os.environ)
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to the log, not into the answer
    logging.config.dictConfig(log_config(argv[1] if len(argv) > 1 else "info"))
    import_registry_client()
    import_model_libraries()
    try:
        request = pickle.load(sys.stdin.buffer)  # noqa: S301 (from the parent process)
    except EOFError:  # the master gave up before it had a model to send
        return 0
    with answer:
        pickle.dump(compile_model(request), answer, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    # Run from the module's own name, so what it pickles names classes the master has.
    from model_server import compiler_process

    sys.exit(compiler_process.main(sys.argv))
